"""The chat example's stand-in model, in Python: a port of src/model.rs,
src/rng.rs and src/params.rs.

A word-level Markov chain (order 2, backing off to order 1 and then to
every token) trained at start-up on corpus/ferry-tales.txt. It follows the
Rust code step by step -- the same tokenizer, the same token ids, the same
integer weights, the same SplitMix64 random numbers -- so for the same
request and seed the Python server gives exactly the reply the Rust server
gives. The tests check that.
"""

import math
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus", "ferry-tales.txt")

DEFAULT_MAX_LENGTH = 64
MAX_LENGTH_LIMIT = 2048
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.9

MASK64 = (1 << 64) - 1
END = 0
WEIGHT_SCALE = 4294967296.0
CLOSES = {",", ".", ";", ":", "!", "?", ")"}


class SplitMix64:
    """SplitMix64, as src/rng.rs."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def is_word_char(c):
    return ("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z") or ord(c) >= 0x80


def is_separator(c):
    return c <= " " or c == "\x7f"


def ascii_lower(text):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def tokenize(text):
    """Words and single punctuation marks, by the rule in src/model.rs."""
    tokens = []
    start = None
    n = len(text)
    for i, c in enumerate(text):
        if is_word_char(c):
            if start is None:
                start = i
            continue
        if c in "'-" and start is not None and i + 1 < n and is_word_char(text[i + 1]):
            continue
        if start is not None:
            tokens.append(text[start:i])
            start = None
        if not is_separator(c):
            tokens.append(c)
    if start is not None:
        tokens.append(text[start:])
    return tokens


def paragraphs(text):
    result, current = [], []
    for line in text.split("\n"):
        if all(is_separator(c) for c in line):
            if current:
                result.append(current)
                current = []
        else:
            current.append(line)
    if current:
        result.append(current)
    return result


class BadRequest(Exception):
    """Refused fields: a list of (field, reason)."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors))
        self.errors = errors


def float32_text(value):
    """A float32's shortest decimal form, for error messages."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == value:
            return text
    return repr(value)


def sampling(prompt, max_length, top_p, temperature):
    """Checks a request's fields and fills in defaults, as src/params.rs.
    Returns (max_length, temperature, top_p) or raises BadRequest."""
    errors = []
    if all(is_separator(c) for c in prompt):
        errors.append(("prompt", "is empty (or only spaces); send the text the model should reply to"))

    if max_length == 0:
        length = DEFAULT_MAX_LENGTH
    elif max_length < 0:
        errors.append(
            (
                "max_length",
                f"{max_length} is negative; send the most tokens the reply may have, or 0 for the "
                f"server's default ({DEFAULT_MAX_LENGTH})",
            )
        )
        length = DEFAULT_MAX_LENGTH
    elif max_length > MAX_LENGTH_LIMIT:
        errors.append(("max_length", f"{max_length} is above the server's limit of {MAX_LENGTH_LIMIT} tokens"))
        length = DEFAULT_MAX_LENGTH
    else:
        length = max_length

    share = f"send a share of the probability in (0, 1], or 0 for the server's default ({DEFAULT_TOP_P})"
    if math.isnan(top_p):
        errors.append(("top_p", "is NaN; send a number in (0, 1]"))
        p = DEFAULT_TOP_P
    elif top_p < 0:
        errors.append(("top_p", f"{float32_text(top_p)} is negative; {share}"))
        p = DEFAULT_TOP_P
    elif top_p > 1:
        errors.append(("top_p", f"{float32_text(top_p)} is above 1; {share}"))
        p = DEFAULT_TOP_P
    elif top_p == 0:
        p = DEFAULT_TOP_P
    else:
        p = float(top_p)

    if not math.isfinite(temperature):
        errors.append(("temperature", f"{float32_text(temperature)} is not a finite number; send a positive number"))
        t = DEFAULT_TEMPERATURE
    elif temperature < 0:
        errors.append(
            (
                "temperature",
                f"{float32_text(temperature)} is negative; send a positive number (lower is more "
                f"predictable), or 0 for the server's default ({DEFAULT_TEMPERATURE})",
            )
        )
        t = DEFAULT_TEMPERATURE
    elif temperature == 0:
        t = DEFAULT_TEMPERATURE
    else:
        t = float(temperature)

    if errors:
        raise BadRequest(errors)
    return length, t, p


def sample(candidates, temperature, top_p, rng):
    """Draws one token id from [(token, count)], as `sample` in model.rs."""
    top = max(count for _, count in candidates)
    exponent = 1.0 / temperature
    weighted = []
    for token, count in candidates:
        share = (float(count) / float(top)) ** exponent
        weight = math.floor(share * WEIGHT_SCALE)
        if weight > 0:
            weighted.append((weight, token))
    weighted.sort(key=lambda w: (-w[0], w[1]))
    total = sum(w for w, _ in weighted)
    need = min(max(math.ceil(top_p * float(total)), 1), total)
    kept = 0
    kept_weight = 0
    for weight, _ in weighted:
        kept += 1
        kept_weight += weight
        if kept_weight >= need:
            break
    draw = rng.next_u64() % kept_weight
    reached = 0
    for weight, token in weighted[:kept]:
        reached += weight
        if draw < reached:
            return token
    raise AssertionError("the draw is below the kept weight")


class Model:
    """A trained chain; `generate` yields a reply's pieces lazily."""

    def __init__(self, corpus):
        self.tokens = [""]
        self.key_of = [END]
        ids = {}
        self.keys = {"": END}
        order2, order1, order0 = {}, {}, {}
        for paragraph in paragraphs(corpus):
            sequence = [END, END]
            for line in paragraph:
                for token in tokenize(line):
                    tid = ids.get(token)
                    if tid is None:
                        tid = len(self.tokens)
                        key = self.keys.setdefault(ascii_lower(token), len(self.keys))
                        self.tokens.append(token)
                        self.key_of.append(key)
                        ids[token] = tid
                    sequence.append(tid)
                    order0[tid] = order0.get(tid, 0) + 1
            sequence.append(END)
            for i in range(len(sequence) - 2):
                a, b, nxt = self.key_of[sequence[i]], self.key_of[sequence[i + 1]], sequence[i + 2]
                counts = order2.setdefault((a, b), {})
                counts[nxt] = counts.get(nxt, 0) + 1
                counts = order1.setdefault(b, {})
                counts[nxt] = counts.get(nxt, 0) + 1
        if not order0:
            raise ValueError("the training text has no words in it")
        listed = lambda counts: sorted(counts.items())
        self.order2 = {k: listed(v) for k, v in order2.items()}
        self.order1 = {k: listed(v) for k, v in order1.items()}
        self.order0 = listed(order0)

    def start_state(self, context):
        last = None
        for i in range(len(context) - 1, -1, -1):
            if context[i] is not None and context[i] in self.order1:
                last = i
                break
        if last is None:
            return (END, END)
        b = context[last]
        a = context[last - 1] if last >= 1 else None
        if a is not None and (a, b) in self.order2:
            return (a, b)
        return (None, b)

    def successors(self, state, may_end):
        def keep(found):
            return [s for s in found if may_end or s[0] != END]

        a, b = state
        if a is not None and b is not None and (a, b) in self.order2:
            found = keep(self.order2[(a, b)])
            if found:
                return found
        if b is not None and b in self.order1:
            found = keep(self.order1[b])
            if found:
                return found
        return self.order0

    def generate(self, history, prompt, max_length, temperature, top_p, seed):
        """Yields the pieces of a reply: tokens with the space before them."""
        context = []
        for turn in list(history) + [prompt]:
            for token in tokenize(turn):
                context.append(self.keys.get(ascii_lower(token)))
        state = self.start_state(context)
        rng = SplitMix64(seed)
        last = None
        emitted = 0
        while emitted < max_length:
            token = sample(self.successors(state, emitted > 0), temperature, top_p, rng)
            if token == END:
                return
            text = self.tokens[token]
            glued = last is None or self.tokens[last] == "(" or text in CLOSES
            yield text if glued else " " + text
            state = (state[1], self.key_of[token])
            last = token
            emitted += 1


def load(path=None):
    with open(path or CORPUS, encoding="utf-8") as f:
        return Model(f.read())


if __name__ == "__main__":
    # A quick look: python chat_model.py "The ferry crosses" 7
    import sys

    model = load()
    prompt = sys.argv[1] if len(sys.argv) > 1 else "The ferry"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    print("".join(model.generate([], prompt, 16, 0.8, 0.9, seed)))

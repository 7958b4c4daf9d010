//! What the fields of recent header blocks encoded to when they went out as
//! a table index, so the next block with the same fields copies those bytes
//! instead of looking each field up again.
//!
//! A gRPC connection sends nearly the same blocks over and over: a client
//! its request headers, a server its response headers and its trailers. In
//! the steady state every field of them but the volatile ones
//! (`grpc-timeout`) is a one- or two-byte index, and finding it costs a
//! static-table lookup, a hash and a dynamic-table probe. An index stays
//! right as long as the dynamic table does not change (dynamic indices count
//! from the newest entry), so a remembered code is used only while the
//! table's generation is the one it was made at.
//!
//! Two slots, chosen by the block's first field, so a server's alternating
//! response headers and trailers each keep theirs. A block that repeats its
//! slot exactly changes nothing; the slot is rewritten only from the first
//! field that differs.

use crate::HeaderField;

/// Longest code remembered (an index up to 16,510 in a 7-bit prefix).
const MAX_CODE: usize = 3;

#[derive(Debug, Default)]
pub(super) struct Memo {
    slots: [Slot; 2],
    /// The slot a block of a new kind replaces.
    next: usize,
    /// The block being encoded, once it differs from its slot.
    building: Slot,
    /// Fields of the block so far, while they all matched its slot; `None`
    /// once `building` holds the block instead.
    matched: Option<usize>,
    /// The block's slot (`None`: no usable slot).
    slot: Option<usize>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The table generation its codes are right for (`None`: unusable).
    generation: Option<u64>,
    /// One per field of the block, in order.
    fields: Vec<Remembered>,
}

#[derive(Clone, Debug)]
struct Remembered {
    field: HeaderField,
    code: [u8; MAX_CODE],
    /// 0: the field went out as a literal; only its place is remembered.
    code_len: u8,
}

impl Remembered {
    fn new(field: &HeaderField, code: Option<&[u8]>) -> Remembered {
        let mut r = Remembered {
            field: field.clone(),
            code: [0; MAX_CODE],
            code_len: 0,
        };
        if let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= MAX_CODE) {
            r.code[..code.len()].copy_from_slice(code);
            r.code_len = code.len() as u8;
        }
        r
    }

    fn code(&self) -> Option<&[u8]> {
        (self.code_len > 0).then(|| &self.code[..usize::from(self.code_len)])
    }

    /// Whether `field` is this one (the same static string is the usual
    /// case, and the cheapest check).
    fn is(&self, field: &HeaderField) -> bool {
        same(&self.field.name, &field.name)
            && same(&self.field.value, &field.value)
            && self.field.sensitive == field.sensitive
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

impl Slot {
    fn starts_like(&self, first: &[u8]) -> bool {
        self.fields
            .first()
            .is_some_and(|r| r.code_len > 0 && same(&r.field.name, first))
    }
}

impl Memo {
    /// Starts a block whose first field is `first`, with the table at
    /// `generation`.
    pub(super) fn begin(&mut self, first: Option<&HeaderField>, generation: u64) {
        self.building.fields.clear();
        self.matched = Some(0);
        self.slot = first.and_then(|first| {
            self.slots
                .iter()
                .position(|s| s.generation == Some(generation) && s.starts_like(&first.name))
        });
    }

    /// The table changed in the middle of the block: no more replays.
    pub(super) fn stop_replaying(&mut self) {
        self.diverge();
        self.slot = None;
    }

    /// Field number `index` of the block, if its slot remembers it as sent:
    /// its code is appended to `dst` and true returned.
    pub(super) fn replay(&mut self, index: usize, field: &HeaderField, dst: &mut Vec<u8>) -> bool {
        let Some(slot) = self.slot else {
            return false;
        };
        let Some(r) = self.slots[slot].fields.get(index).filter(|r| r.is(field)) else {
            return false;
        };
        let Some(code) = r.code() else {
            return false;
        };
        dst.extend_from_slice(code);
        match &mut self.matched {
            Some(n) => *n += 1,
            None => {
                let r = r.clone();
                self.building.fields.push(r);
            }
        }
        true
    }

    /// The next field of the block went out without a replay: `code` when
    /// as an index (those bytes), `None` for a literal.
    pub(super) fn record(&mut self, index: usize, field: &HeaderField, code: Option<&[u8]>) {
        if self.matched.is_some() {
            let unchanged = code.is_none()
                && self
                    .slot
                    .and_then(|s| self.slots[s].fields.get(index))
                    .is_some_and(|r| r.code_len == 0 && same(&r.field.name, &field.name));
            if unchanged {
                // A literal where the slot has one (a `grpc-timeout`).
                self.matched = Some(index + 1);
                return;
            }
            self.diverge();
        }
        self.building.fields.push(Remembered::new(field, code));
    }

    /// From here on the block is built anew: the fields that matched so far
    /// are copied from the slot.
    fn diverge(&mut self) {
        if let Some(n) = self.matched.take() {
            if let Some(slot) = self.slot {
                let prefix = &self.slots[slot].fields[..n.min(self.slots[slot].fields.len())];
                self.building.fields.extend_from_slice(prefix);
            }
        }
    }

    /// Ends a block of `len` fields. `generation`: the table's, if the
    /// block left it unchanged (its codes are then right for the next block
    /// like it); `None` if it changed it, so nothing is kept.
    pub(super) fn finish(&mut self, len: usize, generation: Option<u64>) {
        let Some(generation) = generation else {
            return;
        };
        if let (Some(n), Some(slot)) = (self.matched, self.slot) {
            if n == len && self.slots[slot].fields.len() == len {
                // The same block again: its slot stands.
                return;
            }
        }
        self.diverge();
        let Some(first) = self.building.fields.first().filter(|r| r.code_len > 0) else {
            return;
        };
        let i = match self
            .slots
            .iter()
            .position(|s| s.starts_like(&first.field.name))
        {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = (self.next + 1) % self.slots.len();
                i
            }
        };
        self.building.generation = Some(generation);
        std::mem::swap(&mut self.slots[i], &mut self.building);
    }

    /// Forgets everything and frees it (an idle connection).
    pub(super) fn clear(&mut self) {
        *self = Memo::default();
    }
}

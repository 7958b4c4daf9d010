// An LD_PRELOAD shim that counts a process's heap allocations by size
// (malloc, calloc, realloc, posix_memalign, aligned_alloc) and writes the
// counts to $FERRY_ALLOCS_OUT when the process exits. Used by
// bench/allocs.sh; not part of Ferry.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIZES 65536

static unsigned long counts[SIZES + 1];

static void count(size_t size) {
    __atomic_fetch_add(&counts[size < SIZES ? size : SIZES], 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size) {
    static void *(*real)(size_t);
    if (!real) real = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    count(size);
    return real(size);
}

void *calloc(size_t n, size_t size) {
    static void *(*real)(size_t, size_t);
    // dlsym may call calloc itself: answer that one from a static buffer.
    static char early[4096];
    static int resolving;
    if (!real) {
        if (resolving) return n * size <= sizeof early ? early : NULL;
        resolving = 1;
        real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        resolving = 0;
    }
    count(n * size);
    return real(n, size);
}

void *realloc(void *p, size_t size) {
    static void *(*real)(void *, size_t);
    if (!real) real = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    count(size);
    return real(p, size);
}

int posix_memalign(void **p, size_t align, size_t size) {
    static int (*real)(void **, size_t, size_t);
    if (!real) real = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    count(size);
    return real(p, align, size);
}

void *aligned_alloc(size_t align, size_t size) {
    static void *(*real)(size_t, size_t);
    if (!real) real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    count(size);
    return real(align, size);
}

__attribute__((destructor)) static void dump(void) {
    const char *path = getenv("FERRY_ALLOCS_OUT");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    char line[64];
    for (size_t size = 0; size <= SIZES; size++) {
        if (counts[size] == 0) continue;
        int n = snprintf(line, sizeof line, "%zu %lu\n", size, counts[size]);
        if (write(fd, line, n) != n) break;
    }
    close(fd);
}

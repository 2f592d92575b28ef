/* alloccount.c - LD_PRELOAD shim counting heap calls (make bench).
 *
 *   LD_PRELOAD=build/bench/alloccount.so ALLOCCOUNT_OUT=FILE prog ...
 *
 * Counts malloc, calloc, realloc, free (and posix_memalign, aligned_alloc,
 * memalign) calls, forwarding each to the next definition (dlsym
 * RTLD_NEXT), and at exit writes one line
 *   allocs N malloc N calloc N realloc N free N memalign N
 * to FILE (appended) or, without ALLOCCOUNT_OUT, to standard error. allocs
 * is every call that may hand out a block: malloc + calloc + realloc +
 * the memalign family. dlsym itself may call calloc before the real one is
 * known: those few come from a static buffer (and are never freed to libc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

static unsigned long long n_malloc, n_calloc, n_realloc, n_free, n_memalign;
static int resolving;
static _Alignas(16) unsigned char boot[65536];
static size_t boot_used;

static void *boot_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot) return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}
static int is_boot(const void *p)
{
    return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (real_malloc || resolving) return;
    resolving = 1;
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    resolving = 0;
}

void *memalign(size_t al, size_t n);

#define COUNT(c) __atomic_add_fetch(&(c), 1, __ATOMIC_RELAXED)

void *malloc(size_t n)
{
    resolve();
    if (!real_malloc) return boot_alloc(n);
    COUNT(n_malloc);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    resolve();
    if (!real_calloc) return boot_alloc(a * b); /* static: already zero */
    COUNT(n_calloc);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    COUNT(n_realloc);
    if (is_boot(p)) {
        void *q = malloc(n);
        size_t left = (size_t)(boot + sizeof boot - (unsigned char *)p);
        if (q) memcpy(q, p, n < left ? n : left);
        return q;
    }
    return real_realloc(p, n);
}

void free(void *p)
{
    if (!p || is_boot(p)) return;
    resolve();
    COUNT(n_free);
    real_free(p);
}

int posix_memalign(void **r, size_t al, size_t n)
{
    resolve();
    COUNT(n_memalign);
    return real_posix_memalign(r, al, n);
}

void *aligned_alloc(size_t al, size_t n)
{
    resolve();
    COUNT(n_memalign);
    return real_aligned_alloc(al, n);
}

void *memalign(size_t al, size_t n)
{
    resolve();
    COUNT(n_memalign);
    return real_memalign(al, n);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("ALLOCCOUNT_OUT");
    char line[256];
    int len = snprintf(line, sizeof line, "allocs %llu malloc %llu calloc %llu realloc %llu free %llu memalign %llu\n",
                       n_malloc + n_calloc + n_realloc + n_memalign, n_malloc, n_calloc, n_realloc, n_free,
                       n_memalign);
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fwrite(line, 1, (size_t)len, f);
        fclose(f);
    } else {
        fwrite(line, 1, (size_t)len, stderr);
    }
}

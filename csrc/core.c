/* Threads, memory, fills and the N-d iterator every elementwise kernel runs on. */
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include "tg.h"

/* Threads: one small pool of our own for every parallel kernel (matmul blocks included, see
   blas.c), with TG_NUM_THREADS (c_backend.py) setting its size. */
static int g_threads = 1;
/* Below these element counts a kernel runs serial: waking a pool costs ~1-2 us here, and a
   2-thread add only wins from ~5e4 elements (measured with /tmp scripts, see c_backend.py). */
static int64_t g_par_min_cheap = 65536, g_par_min_costly = 8192;

void tg_set_threads(int n) { g_threads = n < 1 ? 1 : n; }
int tg_get_threads(void) { return g_threads; }
void tg_set_par_min(int64_t cheap, int64_t costly) { g_par_min_cheap = cheap; g_par_min_costly = costly; }

uintptr_t tg_pool_entry(int which) {
    return which == 0 ? (uintptr_t)&tg_parallel_for : (uintptr_t)&tg_threads_for;
}

int tg_threads_for(int64_t work, int costly) {
    int64_t lim = costly ? g_par_min_costly : g_par_min_cheap;
    if (g_threads <= 1 || work < lim) return 1;
    int64_t nt = work / (lim / 2);
    return nt < g_threads ? (int)(nt < 1 ? 1 : nt) : g_threads;
}

/* Why not OpenMP: at the end of a parallel region the caller waits for every thread of the
   team, also for one the OS has not woken yet. On a busy machine (2 cores, other processes)
   that wait is often a whole scheduler slice: a 1024x1024 add costs 0.6-1 ms on 2 threads that
   way against 0.34 ms serial. Here a job is nt chunks that whoever is running claims one by one
   (an atomic counter): the caller works through chunks too, and waits only for chunks a worker
   has actually started. A late worker finds nothing left and goes back to waiting.
   Chunk t is always [t * chunk, ...) whoever runs it, so results do not depend on timing.
   Idle workers spin for g_spin_ns (the gap between two kernels of a training step is
   ~10-50 us), then sleep on a condition variable. */
#define MAX_WORKERS 63
typedef struct {
    range_fn fn;
    void *ctx;
    int64_t n, chunk, nchunks;
    atomic_llong next, done;
    atomic_int open, active;
} job_t;

static job_t g_job;
static atomic_ullong g_gen;          /* bumped for every job: workers wait for it to change */
static atomic_int g_sleepers;
static int g_nworkers;               /* started so far (only grows; guarded by g_master) */
static int64_t g_spin_ns = 50000;
static pthread_mutex_t g_master = PTHREAD_MUTEX_INITIALIZER;  /* one job at a time */
static pthread_mutex_t g_sleep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_sleep_cv = PTHREAD_COND_INITIALIZER;

void tg_set_spin_us(int64_t us) { g_spin_ns = us < 0 ? 0 : us * 1000; }

/* In a forked child: the workers did not come along, and the parent may have been inside a job
   (or holding a lock) at the fork. Start from an empty pool; new workers start on demand. */
void tg_after_fork(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, sm = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    g_master = m;
    g_sleep_mu = sm;
    g_sleep_cv = cv;
    g_nworkers = 0;
    atomic_store(&g_job.active, 0);
    atomic_store(&g_job.open, 0);
    atomic_store(&g_sleepers, 0);
    tg_mid_after_fork();
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Idle workers spin with `pause` alone for this long, then also yield the core at each time check
   (every ~2 us): when the machine has more runnable threads than cores, a worker spinning
   on the core that our own caller (or the worker holding the last chunk) needs would only delay it. */
#define YIELD_AFTER_NS 5000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_chunks(job_t *j) {
    for (;;) {
        long long c = atomic_fetch_add(&j->next, 1);
        if (c >= j->nchunks) return;
        int64_t lo = c * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
        if (lo < hi) j->fn(j->ctx, lo, hi);
        atomic_fetch_add(&j->done, 1);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    unsigned long long seen = atomic_load(&g_gen);
    for (;;) {
        if (atomic_load(&g_gen) == seen) {  /* spin a while, then sleep */
            int64_t start = now_ns(), until = start + g_spin_ns, calm = start + YIELD_AFTER_NS;
            int k = 0;
            while (atomic_load(&g_gen) == seen) {
                cpu_relax();
                if (++k % 64 == 0) {
                    int64_t t = now_ns();
                    if (t > until) break;
                    if (t > calm) sched_yield();
                }
            }
            if (atomic_load(&g_gen) == seen) {
                pthread_mutex_lock(&g_sleep_mu);
                atomic_fetch_add(&g_sleepers, 1);
                while (atomic_load(&g_gen) == seen) pthread_cond_wait(&g_sleep_cv, &g_sleep_mu);
                atomic_fetch_sub(&g_sleepers, 1);
                pthread_mutex_unlock(&g_sleep_mu);
            }
        }
        seen = atomic_load(&g_gen);
        /* enter the current job (if still open); the caller does not reuse g_job while active */
        atomic_fetch_add(&g_job.active, 1);
        if (atomic_load(&g_job.open)) run_chunks(&g_job);
        atomic_fetch_sub(&g_job.active, 1);
    }
    return NULL;
}

/* Chunks per thread of the kernels that split their work finely (tg_chunk_for): with one chunk
   per thread, a worker the OS woke late (another process on its core) left the caller waiting
   for its whole chunk or doing it too; with several, whoever runs takes the next one. Every
   chunk's result is the same whichever thread computes it. */
#define CHUNKS_PER_THREAD 4

/* [0, n) in chunks of `chunk` (the last one shorter), claimed by up to nt threads */
void tg_parallel_chunks(int64_t n, int nt, int64_t chunk, range_fn fn, void *ctx) {
    if (chunk < 1) chunk = 1;
    if (nt <= 1 || n <= chunk) {  /* serial: small work (nt comes from the shape and TG_NUM_THREADS) */
        fn(ctx, 0, n);
        return;
    }
    if (pthread_mutex_trylock(&g_master) != 0) {
        /* Another thread (cffi drops the GIL) or an outer job holds the pool: the caller runs the
           same chunks itself, in order. Not fn(ctx, 0, n): a kernel's summation order follows its
           chunks (a GEMM's blocks, a split sum's partials), and a result must not depend on how
           busy the pool is. */
        for (int64_t lo = 0; lo < n; lo += chunk) fn(ctx, lo, lo + chunk < n ? lo + chunk : n);
        return;
    }
    if (nt > MAX_WORKERS + 1) nt = MAX_WORKERS + 1;
    while (g_nworkers < nt - 1) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker_main, NULL) != 0) break;
        pthread_detach(th);
        g_nworkers++;
    }
    for (int k = 1; atomic_load(&g_job.active) != 0; k++) {  /* stragglers of the last job leave */
        cpu_relax();
        if (k % 64 == 0) sched_yield();
    }
    g_job.fn = fn;
    g_job.ctx = ctx;
    g_job.n = n;
    g_job.chunk = chunk;
    g_job.nchunks = (n + chunk - 1) / chunk;
    atomic_store(&g_job.next, 0);
    atomic_store(&g_job.done, 0);
    atomic_store(&g_job.open, 1);
    atomic_fetch_add(&g_gen, 1);
    if (atomic_load(&g_sleepers) > 0) {
        pthread_mutex_lock(&g_sleep_mu);
        pthread_cond_broadcast(&g_sleep_cv);
        pthread_mutex_unlock(&g_sleep_mu);
    }
    run_chunks(&g_job);
    atomic_store(&g_job.open, 0);
    for (int k = 1; atomic_load(&g_job.done) < g_job.nchunks; k++) {  /* chunks workers started */
        cpu_relax();
        if (k % 64 == 0) sched_yield();  /* the worker may be waiting for this core */
    }
    pthread_mutex_unlock(&g_master);
}

int64_t tg_chunk_for(int64_t n, int nt, int64_t align) {
    int64_t parts = nt > 1 ? (int64_t)nt * CHUNKS_PER_THREAD : 1;
    int64_t chunk = (n + parts - 1) / parts;
    return chunk < align ? align : (chunk + align - 1) / align * align;
}

void tg_parallel_for(int64_t n, int nt, int64_t align, range_fn fn, void *ctx) {
    if (nt <= 1 || n <= align) { fn(ctx, 0, n); return; }
    if (nt > MAX_WORKERS + 1) nt = MAX_WORKERS + 1;
    int64_t chunk = (n + nt - 1) / nt;
    chunk = (chunk + align - 1) / align * align;
    tg_parallel_chunks(n, nt, chunk, fn, ctx);
}

/* ---------------------------------------------------------------- memory */
const char *tg_source_hash(void) { return TG_SOURCE_HASH; }

void *tg_alloc(int64_t nbytes) {
    /* 64-byte aligned so AVX loads of a fresh buffer never split cache lines */
    void *p = NULL;
    if (posix_memalign(&p, 64, (size_t)(nbytes > 0 ? nbytes : 1)) != 0) return NULL;
    return p;
}
void tg_free(void *p) { free(p); }

/* Mid-size buffers (64 KiB to 1 MiB, the Python side decides) come from here. From malloc, a freed
   block of a few hundred KiB often goes back to the OS (glibc mmaps such blocks and trims the
   heap's top), so the next one costs a page fault per 4 KiB page again: a transformer training
   step (448x256 activations, 458 KiB) took ~900 page faults that way, 1-2 ms of the step. Here
   sizes round up to 16 KiB and freed blocks wait on a free list per size (at most MID_SLOTS
   each, MID_LIMIT bytes in all) for the next request of that size. glibc's own settings (mallopt)
   are left alone: they are the whole process's, numpy's and PyTorch's too. */
#define HEADER_MID 64  /* the size class, in front of the 64-byte aligned data */
#define MID_STEP ((size_t)16 << 10)
#define MID_CLASSES 64            /* 16 KiB .. 1 MiB */
#define MID_SLOTS 32
#define MID_LIMIT ((size_t)64 << 20)
static pthread_mutex_t g_mid_mu = PTHREAD_MUTEX_INITIALIZER;
static void *g_mid[MID_CLASSES + 1][MID_SLOTS];
static int g_nmid[MID_CLASSES + 1];
static size_t g_mid_cached = 0;

void *tg_mid_alloc(int64_t nbytes) {
    size_t cls = ((size_t)(nbytes > 0 ? nbytes : 1) + MID_STEP - 1) / MID_STEP;
    if (cls > MID_CLASSES) return NULL;  /* not a mid-size request (the caller's error) */
    void *p = NULL;
    pthread_mutex_lock(&g_mid_mu);
    if (g_nmid[cls] > 0) {
        p = g_mid[cls][--g_nmid[cls]];
        g_mid_cached -= cls * MID_STEP;
    }
    pthread_mutex_unlock(&g_mid_mu);
    if (p) return (char *)p + HEADER_MID;
    char *base = NULL;
    if (posix_memalign((void **)&base, 64, cls * MID_STEP + HEADER_MID) != 0) return NULL;
    *(size_t *)base = cls;
    return base + HEADER_MID;
}

void tg_mid_free(void *p) {
    if (!p) return;
    char *base = (char *)p - HEADER_MID;
    size_t cls = *(size_t *)base;
    pthread_mutex_lock(&g_mid_mu);
    if (g_nmid[cls] < MID_SLOTS && g_mid_cached + cls * MID_STEP <= MID_LIMIT) {
        g_mid[cls][g_nmid[cls]++] = base;
        g_mid_cached += cls * MID_STEP;
        base = NULL;
    }
    pthread_mutex_unlock(&g_mid_mu);
    free(base);
}

/* In a forked child: another thread may have held the lock at the fork. */
void tg_mid_after_fork(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    g_mid_mu = m;
}

static void mid_clear(void) {
    pthread_mutex_lock(&g_mid_mu);
    for (int c = 0; c <= MID_CLASSES; c++) {
        while (g_nmid[c] > 0) free(g_mid[c][--g_nmid[c]]);
    }
    g_mid_cached = 0;
    pthread_mutex_unlock(&g_mid_mu);
}

/* Big buffers (>= 1 MiB, the Python side decides) come from here: fresh memory costs a page
   fault per 4 KiB page plus the kernel's zeroing (a 1e7-element add spent most of its time so),
   so blocks are 2 MiB aligned, advised as transparent huge pages, and freed blocks are kept in a
   small cache (at most CACHE_SLOTS blocks, g_cache_limit bytes) for the next allocation of a
   similar size. A 64-byte header in front of the data holds the block's size. */
#define HUGE_ALIGN ((size_t)2 << 20)
#define HEADER 64
#define CACHE_SLOTS 16
static pthread_mutex_t g_cache_mu = PTHREAD_MUTEX_INITIALIZER;  /* cffi calls drop the GIL */
static struct { char *base; size_t size; } g_cache[CACHE_SLOTS];
static int g_ncache = 0;
static size_t g_cached = 0, g_cache_limit = (size_t)1 << 30;

void tg_set_cache_limit(int64_t nbytes) {
    g_cache_limit = nbytes > 0 ? (size_t)nbytes : 0;
    tg_cache_clear();
}

void tg_cache_clear(void) {
    mid_clear();
    pthread_mutex_lock(&g_cache_mu);
    for (int i = 0; i < g_ncache; i++) free(g_cache[i].base);
    g_ncache = 0;
    g_cached = 0;
    pthread_mutex_unlock(&g_cache_mu);
}

void *tg_big_alloc(int64_t nbytes) {
    size_t need = ((size_t)(nbytes > 0 ? nbytes : 1) + HEADER + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN;
    char *base = NULL;
    pthread_mutex_lock(&g_cache_mu);
    int best = -1;
    for (int i = 0; i < g_ncache; i++)  /* best fit, at most 2x the request */
        if (g_cache[i].size >= need && g_cache[i].size <= 2 * need &&
            (best < 0 || g_cache[i].size < g_cache[best].size)) best = i;
    if (best >= 0) {
        base = g_cache[best].base;
        need = g_cache[best].size;
        g_cached -= need;
        g_cache[best] = g_cache[--g_ncache];
    }
    pthread_mutex_unlock(&g_cache_mu);
    if (!base) {
        void *p = NULL;
        if (posix_memalign(&p, HUGE_ALIGN, need) != 0) return NULL;
        base = p;
#ifdef MADV_HUGEPAGE
        madvise(base, need, MADV_HUGEPAGE);
#endif
    }
    *(size_t *)base = need;
    return base + HEADER;
}

void tg_big_free(void *p) {
    if (!p) return;
    char *base = (char *)p - HEADER;
    size_t size = *(size_t *)base;
    pthread_mutex_lock(&g_cache_mu);
    if (g_ncache < CACHE_SLOTS && g_cached + size <= g_cache_limit) {
        g_cache[g_ncache].base = base;
        g_cache[g_ncache].size = size;
        g_ncache++;
        g_cached += size;
        base = NULL;
    }
    pthread_mutex_unlock(&g_cache_mu);
    if (base) free(base);
}

void tg_memcpy(void *dst, const void *src, int64_t nbytes) { memmove(dst, src, (size_t)nbytes); }

void tg_fill(int dt, void *dst, int64_t n, double fval, int64_t ival) {
    switch (dt) {
    case DT_BOOL: memset(dst, ival ? 1 : 0, (size_t)n); break;
    case DT_I64: { int64_t *d = dst; for (int64_t i = 0; i < n; i++) d[i] = ival; } break;
    case DT_U8: memset(dst, (int)(uint8_t)ival, (size_t)n); break;
    case DT_I16: { int16_t *d = dst; for (int64_t i = 0; i < n; i++) d[i] = (int16_t)ival; } break;
    case DT_I32: { int32_t *d = dst; for (int64_t i = 0; i < n; i++) d[i] = (int32_t)ival; } break;
    case DT_F32: { float *d = dst; float v = (float)fval; for (int64_t i = 0; i < n; i++) d[i] = v; } break;
    default: { double *d = dst; for (int64_t i = 0; i < n; i++) d[i] = fval; } break;
    }
}

/* ---------------------------------------------------------------- N-d iterator */
#define TILE 64
/* Tiles of transposed 2-d walks: TILE_R rows by TILE_C columns. Wide and short measured best for
   a 1024x1024 float32 transposed add on this machine (64x64: 575 us, 128x32: 658 us,
   32x256: 489 us, one thread): long runs along the output's rows, and the staged input's
   32-element runs are read 8 at a time by the register transposes below. */
#define TILE_R 32
#define TILE_C 256

typedef struct {
    int op, nargs, nd, tiled;
    const int64_t *shape, *st, *isz;
    char **base;
    loop_fn fn;
} iter_t;

/* Elements [lo, hi) in row-major order: rows of the last dim, carrying into outer dims. */
static void iter_range(void *ctx, int64_t lo, int64_t hi) {
    const iter_t *it = ctx;
    int nd = it->nd, na = it->nargs;
    int64_t idx[TG_MAXDIM], last[8];
    char *p[8];
    int64_t rem = lo;
    for (int a = 0; a < na; a++) { p[a] = it->base[a]; last[a] = it->st[a * nd + nd - 1]; }
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
        for (int a = 0; a < na; a++) p[a] += idx[d] * it->st[a * nd + d];
    }
    int64_t pos = lo, inner = it->shape[nd - 1];
    while (pos < hi) {
        int64_t cnt = inner - idx[nd - 1];
        if (cnt > hi - pos) cnt = hi - pos;
        it->fn(it->op, p, last, cnt);
        pos += cnt;
        if (pos >= hi) break;
        idx[nd - 1] += cnt;
        for (int a = 0; a < na; a++) p[a] += cnt * last[a];
        for (int d = nd - 1; d > 0 && idx[d] == it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
            for (int a = 0; a < na; a++) p[a] += it->st[a * nd + d - 1] - it->shape[d] * it->st[a * nd + d];
        }
    }
}

/* 2-d, rows [lo, hi), in TILE_R x TILE_C blocks. An input walked across its rows along the last dim
   (a transposed view) is first copied tile by tile, in its own memory order, into a small
   row-major buffer: reading it element by element would touch TILE lines 4 KiB apart per row,
   which all land in the same cache sets and evict each other (measured no faster than untiled). */
#ifdef __AVX2__
/* 8x8 floats (or 4x4 doubles) transposed in registers: the element loop below moved one element
   per store (a 1024x1024 transposed copy ran 4x behind PyTorch's). Pure data movement, so it
   serves every dtype of the size: bits are never interpreted. */
static inline void tr8x8(__m256 *v) {
    __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20); v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20); v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31); v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31); v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

static inline void tr4x4(__m256d *v) {
    __m256d t0 = _mm256_unpacklo_pd(v[0], v[1]), t1 = _mm256_unpackhi_pd(v[0], v[1]);
    __m256d t2 = _mm256_unpacklo_pd(v[2], v[3]), t3 = _mm256_unpackhi_pd(v[2], v[3]);
    v[0] = _mm256_permute2f128_pd(t0, t2, 0x20); v[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    v[2] = _mm256_permute2f128_pd(t0, t2, 0x31); v[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* The blocks of a tile that fill whole 8x8 (4x4) squares; returns how many columns it did
   (each for every row up to a multiple of the square; the caller does the rest). */
static int64_t gather_tile_simd(char *dst, const char *src, int64_t s0, int64_t s1, int64_t rows, int64_t cols,
                                int64_t isz, int64_t *rows_done) {
    *rows_done = 0;
    if (isz == 4 && s0 == 4) {
        int64_t c = 0, r = 0;
        for (; c + 8 <= cols; c += 8)
            for (r = 0; r + 8 <= rows; r += 8) {
                __m256 v[8];
                for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps((const float *)(src + (c + i) * s1) + r);
                tr8x8(v);
                for (int i = 0; i < 8; i++) _mm256_storeu_ps((float *)dst + (r + i) * TILE_C + c, v[i]);
            }
        *rows_done = rows / 8 * 8;
        return c;
    }
    if (isz == 8 && s0 == 8) {
        int64_t c = 0, r = 0;
        for (; c + 4 <= cols; c += 4)
            for (r = 0; r + 4 <= rows; r += 4) {
                __m256d v[4];
                for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_pd((const double *)(src + (c + i) * s1) + r);
                tr4x4(v);
                for (int i = 0; i < 4; i++) _mm256_storeu_pd((double *)dst + (r + i) * TILE_C + c, v[i]);
            }
        *rows_done = rows / 4 * 4;
        return c;
    }
    return 0;
}
#endif

static void gather_tile(char *dst, const char *src, int64_t s0, int64_t s1, int64_t rows, int64_t cols, int64_t isz) {
#ifdef __AVX2__
    int64_t rdone, cdone = gather_tile_simd(dst, src, s0, s1, rows, cols, isz, &rdone);
    if (cdone) {  /* the rows below the squares, in the columns the squares covered */
        for (int64_t c = 0; c < cdone; c++) {
            const char *sp = src + c * s1;
            for (int64_t r = rdone; r < rows; r++) memcpy(dst + (r * TILE_C + c) * isz, sp + r * s0, (size_t)isz);
        }
        dst += cdone * isz;  /* then the remaining columns, every row, as below */
        src += cdone * s1;
        cols -= cdone;
    }
#endif
    for (int64_t c = 0; c < cols; c++) {
        const char *sp = src + c * s1;
        switch (isz) {
        case 4: for (int64_t r = 0; r < rows; r++) ((uint32_t *)dst)[r * TILE_C + c] = *(const uint32_t *)(sp + r * s0); break;
        case 8: for (int64_t r = 0; r < rows; r++) ((uint64_t *)dst)[r * TILE_C + c] = *(const uint64_t *)(sp + r * s0); break;
        default: for (int64_t r = 0; r < rows; r++) dst[r * TILE_C + c] = sp[r * s0]; break;
        }
    }
}

/* staging for up to 3 transposed inputs (8-byte elements), 192 KiB per thread: thread-local
   rather than on the stack, which a caller's thread may have made small */
static _Thread_local uint64_t g_stage[3][TILE_R * TILE_C];

static void iter_tiles(void *ctx, int64_t lo, int64_t hi) {
    const iter_t *it = ctx;
    int na = it->nargs;
    int64_t cols = it->shape[1], last[8], step[8];
    char *p[8];
    uint64_t (*buf)[TILE_R * TILE_C] = g_stage;
    int staged[8];
    for (int a = 0; a < na; a++) {
        last[a] = it->st[a * 2 + 1];
        staged[a] = a < na - 1 && a < 3 && it->isz[a] > 0 &&
                    (it->st[a * 2 + 1] < 0 ? -it->st[a * 2 + 1] : it->st[a * 2 + 1]) > 64 &&
                    (it->st[a * 2] < 0 ? -it->st[a * 2] : it->st[a * 2]) <= it->isz[a];
        step[a] = staged[a] ? it->isz[a] : last[a];
    }
    for (int64_t r0 = lo; r0 < hi; r0 += TILE_R) {
        int64_t r1 = r0 + TILE_R < hi ? r0 + TILE_R : hi;
        for (int64_t c0 = 0; c0 < cols; c0 += TILE_C) {
            int64_t cnt = cols - c0 < TILE_C ? cols - c0 : TILE_C;
            for (int a = 0; a < na; a++)
                if (staged[a])
                    gather_tile((char *)buf[a], it->base[a] + r0 * it->st[a * 2] + c0 * last[a],
                                it->st[a * 2], last[a], r1 - r0, cnt, it->isz[a]);
            for (int64_t r = r0; r < r1; r++) {
                for (int a = 0; a < na; a++)
                    p[a] = staged[a] ? (char *)buf[a] + (r - r0) * TILE_C * it->isz[a]
                                     : it->base[a] + r * it->st[a * 2] + c0 * last[a];
                it->fn(it->op, p, step, cnt);
            }
        }
    }
}

static int64_t iabs64(int64_t x) { return x < 0 ? -x : x; }

void tg_nditer(int op, int nargs, int nd, const int64_t *shape, const int64_t *bstrides, char **base,
               loop_fn fn, int costly, const int64_t *isz) {
    if (nd == 0) {  /* a single element */
        int64_t z[8] = {0};
        fn(op, base, z, 1);
        return;
    }
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    iter_t it = {op, nargs, nd, 0, shape, bstrides, isz, base, fn};
    if (nd == 2 && shape[0] >= 8 && shape[1] >= 2 * TILE) {
        for (int a = 0; a < nargs; a++) {
            int64_t s0 = iabs64(bstrides[a * 2]), s1 = iabs64(bstrides[a * 2 + 1]);
            if (s1 > s0 && s1 > 64) it.tiled = 1;  /* walks across rows along the last dim */
        }
    }
    int nt = tg_threads_for(n, costly);
    /* a few chunks per thread either way: with one block of rows per thread, a worker the OS
       woke late (a busy 2-core machine) left the caller waiting for its whole half */
    if (it.tiled) tg_parallel_chunks(shape[0], nt, tg_chunk_for(shape[0], nt, TILE_R), iter_tiles, &it);
    else tg_parallel_chunks(n, nt, tg_chunk_for(n, nt, 64), iter_range, &it);
}

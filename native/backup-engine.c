// The backup engine: a backup's hashing and sealing on native threads (one per core), driven by the
// repository (server/repository/native-engine.ts) through two asynchronous calls per batch of bytes:
//
//   engineName(...)  reads the bytes (from a descriptor, or a buffer the caller pins), cuts them into
//                    chunks (content-defined, at the parent's cuts, or at given lengths), names every
//                    chunk (SHA-256, or HMAC-SHA-256 for encrypted repositories, 16 chunks at once
//                    with AVX-512) and keeps the bytes as a segment for:
//   engineSeal(...)  writes the chunks the repository does not have yet as pack records into a slab
//                    (LZ4, or zstd at the repository's level, unless the data looks or turns out
//                    incompressible, then AES-256-GCM when the repository is encrypted), and lets the
//                    segment's bytes go;
//   engineDrop(seg)  lets them go when nothing was new.
//
// The same cuts, ids and records as the JavaScript worker (chunk-worker.mjs), which stays the path
// when this engine is unavailable (no libzstd, no addon). No JavaScript runs on these threads, so a
// backup starts no worker isolates and the JIT has next to nothing to compile.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data-plane.h"
#include "sha256-lanes.h"

#define MAX_CHUNK 65536
#define RECORD_HEADER 41
#define CODEC_RAW 0
#define CODEC_ZSTD 1
#define CODEC_LZ4 2
#define CODEC_ENCRYPTED 0x80
#define GCM_NONCE 12
#define GCM_TAG 16
#define MAX_THREADS 8

// ----------------------------------------------------------------------------------- zstd and LZ4
// libzstd and liblz4 are loaded at run time (Debian's libzstd1: dpkg itself depends on it; liblz4-1:
// systemd does), so the addon builds without their headers and a machine without them still has
// the worker path. The engine needs libzstd; LZ4 repositories need liblz4 too.
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;
static struct {
  ZSTD_CCtx* (*create)(void);
  size_t (*compress)(ZSTD_CCtx*, void*, size_t, const void*, size_t, int);
  unsigned (*is_error)(size_t);
  size_t (*bound)(size_t);
  unsigned (*version)(void);
  ZSTD_DCtx* (*create_d)(void);
  size_t (*decompress)(ZSTD_DCtx*, void*, size_t, const void*, size_t);
} zstd;
static int zstd_ok;
static struct {
  int (*compress)(const char*, char*, int, int, int);
  int (*bound)(int);
  int (*decompress)(const char*, char*, int, int);
} lz4;
static int lz4_ok;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void zstd_load(void) {
  void* l = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);
  if (l) {
    *(void**)&lz4.compress = dlsym(l, "LZ4_compress_fast");
    *(void**)&lz4.bound = dlsym(l, "LZ4_compressBound");
    *(void**)&lz4.decompress = dlsym(l, "LZ4_decompress_safe");
    lz4_ok = lz4.compress && lz4.bound && lz4.decompress;
  }
  void* h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  *(void**)&zstd.create = dlsym(h, "ZSTD_createCCtx");
  *(void**)&zstd.compress = dlsym(h, "ZSTD_compressCCtx");
  *(void**)&zstd.is_error = dlsym(h, "ZSTD_isError");
  *(void**)&zstd.bound = dlsym(h, "ZSTD_compressBound");
  *(void**)&zstd.version = dlsym(h, "ZSTD_versionNumber");
  *(void**)&zstd.create_d = dlsym(h, "ZSTD_createDCtx");
  *(void**)&zstd.decompress = dlsym(h, "ZSTD_decompressDCtx");
  // Negative (fast) levels need 1.3.4; the repository's default is one.
  zstd_ok = zstd.create && zstd.compress && zstd.is_error && zstd.bound && zstd.version && zstd.create_d && zstd.decompress && zstd.version() >= 10304;
}

// ------------------------------------------------------------------------------------ read buffers
// Buffers the engine reads sources into, kept for the next read: a fresh multi-megabyte allocation
// is mapped anew by the C library and faulted in page by page (on these hosts a fresh page costs a
// host fault).
#define POOL_SLOTS 24
#define POOL_KEEP ((size_t)64 << 20)
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t* pool_buf[POOL_SLOTS];
static size_t pool_cap[POOL_SLOTS];
static size_t pool_kept;

static size_t size_class(size_t n) {
  size_t c = (size_t)2 << 20;
  while (c < n) c *= 2;
  return c;
}

static uint8_t* buf_take(size_t n, size_t* cap) {
  size_t c = size_class(n);
  pthread_mutex_lock(&pool_lock);
  for (int i = 0; i < POOL_SLOTS; i++) {
    if (pool_buf[i] && pool_cap[i] == c) {
      uint8_t* b = pool_buf[i];
      pool_buf[i] = NULL;
      pool_kept -= c;
      pthread_mutex_unlock(&pool_lock);
      *cap = c;
      return b;
    }
  }
  pthread_mutex_unlock(&pool_lock);
  *cap = c;
  return (uint8_t*)malloc(c);
}

static void buf_give(uint8_t* b, size_t cap) {
  pthread_mutex_lock(&pool_lock);
  if (pool_kept + cap <= POOL_KEEP) {
    for (int i = 0; i < POOL_SLOTS; i++) {
      if (!pool_buf[i]) {
        pool_buf[i] = b;
        pool_cap[i] = cap;
        pool_kept += cap;
        pthread_mutex_unlock(&pool_lock);
        return;
      }
    }
  }
  pthread_mutex_unlock(&pool_lock);
  free(b);
}

// ---------------------------------------------------------------------------------------- segments
// A segment: bytes the engine named and holds until they are sealed or dropped. Referenced by its
// JavaScript handle and by each job that uses it; freed when both have let go.
enum { BYTES_NONE, BYTES_OWNED, BYTES_MAPPED, BYTES_PINNED };
// Doubles per part of a name job (see cut_part).
#define PART_FIELDS 8

typedef struct {
  atomic_int refs;
  int bytes_kind;
  const uint8_t* data;
  size_t len;
  uint8_t* owned;
  size_t owned_cap;
  void* map_base;
  size_t map_len;
  napi_ref pin;
  napi_env env;
  // The chunks, in order.
  uint32_t n;
  uint32_t* lengths;
  size_t* starts;
  uint8_t* ids;
  uint8_t* zero;
  bool busy;       // a job is using the bytes
  bool drop_after; // let the bytes go when that job ends
} seg_t;

// Lets the bytes go (main thread: a pinned buffer's reference is deleted).
static void seg_release_bytes(seg_t* s) {
  if (s->bytes_kind == BYTES_OWNED) buf_give(s->owned, s->owned_cap);
  else if (s->bytes_kind == BYTES_MAPPED) munmap(s->map_base, s->map_len);
  else if (s->bytes_kind == BYTES_PINNED && s->pin) napi_delete_reference(s->env, s->pin);
  s->bytes_kind = BYTES_NONE;
  s->data = NULL;
  s->owned = NULL;
  s->map_base = NULL;
  s->pin = NULL;
}

static void seg_unref(seg_t* s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  if (s->bytes_kind != BYTES_NONE && s->bytes_kind != BYTES_PINNED) seg_release_bytes(s);
  free(s->lengths);
  free(s->starts);
  free(s->ids);
  free(s->zero);
  free(s);
}

// The handle's finalizer: a segment never sealed or dropped (its backup failed) lets go here.
static void seg_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  seg_t* s = (seg_t*)data;
  if (!s->busy && s->bytes_kind != BYTES_NONE) seg_release_bytes(s);
  else if (s->busy) s->drop_after = true;
  seg_unref(s);
}

// -------------------------------------------------------------------------------------------- jobs
enum { JOB_NAME, JOB_SEAL };

typedef struct env_state env_state_t;

typedef struct job {
  struct job* next;
  int kind;
  env_state_t* es;
  napi_deferred deferred;
  seg_t* seg;
  char error[256];
  // name: source and parts
  int fd;
  double* reads; // [position, at, length] triples
  size_t nreads;
  bool mappable; // every read lies within the file: they may be mapped instead of copied
  double* parts; // PART_FIELDS doubles per part
  size_t* part_shift; // added to a part's `at` to find its bytes from the segment's data (mapped reads)
  size_t nparts;
  double* bounds; // each part's boundaries or given lengths
  size_t nbounds;
  uint32_t cut_min, cut_mask;
  uint8_t id_key[32];
  bool has_id_key;
  bool keep;
  uint32_t* part_counts;
  uint8_t* resynced;
  // seal
  uint32_t* indices;
  size_t nindices;
  uint8_t* slab; // the caller's slab (pinned), or NULL: a blob of our own
  size_t slab_len;
  napi_ref slab_pin;
  uint8_t* blob; // what the records were written into
  size_t blob_len;
  int codec; // CODEC_ZSTD or CODEC_LZ4: how new chunks are compressed
  int level; // zstd's level, or LZ4's acceleration
  uint8_t enc_key[32];
  bool has_enc_key;
  uint8_t* codecs;
  uint32_t* stored_len;
  double* at;
} job_t;

// One per JavaScript environment that submits jobs: finished jobs come back through its
// thread-safe function, on its own thread.
struct env_state {
  napi_env env;
  napi_threadsafe_function tsfn;
  int pending; // jobs submitted and not completed (the function keeps the loop alive meanwhile)
  atomic_bool closing;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
// Seals go first: they free slabs and segments and feed the pack writer.
static job_t *q_seal_head, *q_seal_tail, *q_name_head, *q_name_tail;
static int threads_started;

static void job_free(job_t* j) {
  free(j->reads);
  free(j->parts);
  free(j->part_shift);
  free(j->bounds);
  free(j->part_counts);
  free(j->resynced);
  free(j->indices);
  free(j->codecs);
  free(j->stored_len);
  free(j->at);
  if (!j->slab && j->blob) free(j->blob);
  free(j);
}

static void job_fail(job_t* j, const char* fmt, const char* detail) {
  snprintf(j->error, sizeof j->error, fmt, detail);
}

// ------------------------------------------------------------------------------------- name: read
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

// The reads mapped rather than copied: one mapping from the first read's page to the last read's
// end, its pages taken from the page cache as they are (holes cost nothing), only the reads' pages
// populated. Each part must lie within one read; it finds its bytes through j->part_shift. False
// (nothing mapped) when the reads cannot be mapped: they are copied instead.
static bool map_reads(job_t* j) {
  seg_t* s = j->seg;
  const double* r = j->reads;
  size_t n = j->nreads;
  if (!j->mappable || n == 0) return false;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (size_t k = 0; k < n; k++) {
    uint64_t pos = (uint64_t)r[3 * k], end = pos + (uint64_t)r[3 * k + 2];
    if (pos < lo) lo = pos;
    if (end > hi) hi = end;
  }
  struct stat st;
  // A file that shrank since it was opened is read (and reported) the ordinary way, never mapped past its end.
  if (hi <= lo || fstat(j->fd, &st) != 0 || (uint64_t)st.st_size < hi) return false;
  size_t* shift = (size_t*)malloc((j->nparts ? j->nparts : 1) * sizeof(size_t));
  if (!shift) return false;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), base = lo & ~(page - 1);
  // Reads lie end to end in the order given; a part is found in the read that holds its first byte.
  for (size_t p = 0, k = 0; p < j->nparts; p++) {
    double at = j->parts[p * PART_FIELDS], length = j->parts[p * PART_FIELDS + 1];
    if (k >= n || at < r[3 * k + 1]) k = 0;
    while (k < n && at + length > r[3 * k + 1] + r[3 * k + 2]) k++;
    if (k == n || at < r[3 * k + 1] || at + length > r[3 * k + 1] + r[3 * k + 2]) {
      free(shift);
      return false;
    }
    shift[p] = (size_t)(r[3 * k] - (double)base - r[3 * k + 1]);
  }
  size_t span = (size_t)(hi - base);
  void* m = mmap(NULL, span, PROT_READ, MAP_SHARED | (n == 1 ? MAP_POPULATE : 0), j->fd, (off_t)base);
  if (m == MAP_FAILED) {
    free(shift);
    return false;
  }
  if (n > 1)
    for (size_t k = 0; k < n; k++) {
      uint64_t from = (uint64_t)r[3 * k] & ~(page - 1), to = (uint64_t)r[3 * k] + (uint64_t)r[3 * k + 2];
      // Populating is an optimisation (page faults would do the same): a kernel without it is fine.
      if (to > from) madvise((uint8_t*)m + (from - base), (size_t)(to - from), MADV_POPULATE_READ);
    }
  s->bytes_kind = BYTES_MAPPED;
  s->map_base = m;
  s->map_len = span;
  s->data = (const uint8_t*)m;
  j->part_shift = shift;
  return true;
}

static bool read_source(job_t* j) {
  seg_t* s = j->seg;
  if (s->bytes_kind == BYTES_PINNED) return true;
  size_t len = s->len;
  if (map_reads(j)) return true;
  size_t cap;
  uint8_t* b = buf_take(len ? len : 1, &cap);
  if (!b) return job_fail(j, "%s", "out of memory for a read buffer"), false;
  s->bytes_kind = BYTES_OWNED;
  s->owned = b;
  s->owned_cap = cap;
  s->data = b;
  for (size_t r = 0; r < j->nreads; r++) {
    uint64_t pos = (uint64_t)j->reads[3 * r], at = (uint64_t)j->reads[3 * r + 1], want = (uint64_t)j->reads[3 * r + 2];
    uint64_t done = 0;
    while (done < want) {
      ssize_t got = pread(j->fd, b + at + done, want - done, (off_t)(pos + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return job_fail(j, "reading the source failed: %s", strerror(errno)), false;
      if (got == 0) {
        snprintf(j->error, sizeof j->error, "the source ends before byte %llu (read %llu of %llu bytes at %llu)", (unsigned long long)(pos + want),
                 (unsigned long long)done, (unsigned long long)want, (unsigned long long)pos);
        return false;
      }
      done += (uint64_t)got;
    }
  }
  return true;
}

// Per-thread scratch memory, kept between jobs (fresh allocations per job were faulted in anew).
enum { SCRATCH_CUTS, SCRATCH_PTRS, SCRATCH_LENS, SCRATCH_WHICH, SCRATCH_IDS, SCRATCH_KINDS };
static __thread void* scratch_mem[SCRATCH_KINDS];
static __thread size_t scratch_cap[SCRATCH_KINDS];

static void* scratch(int kind, size_t bytes) {
  if (bytes > scratch_cap[kind]) {
    size_t c = scratch_cap[kind] ? scratch_cap[kind] : 4096;
    while (c < bytes) c *= 2;
    void* p = realloc(scratch_mem[kind], c);
    if (!p) return NULL;
    scratch_mem[kind] = p;
    scratch_cap[kind] = c;
  }
  return scratch_mem[kind];
}

// ------------------------------------------------------------------------------------- name: cut
// A part: [at, length, base, final, mode, resyncAfter, first bound, bound count] (PART_FIELDS).
enum { MODE_CDC = 0, MODE_KEEP_CUTS = 1, MODE_GIVEN = 2 };

typedef struct {
  uint32_t* len;
  size_t n, cap;
} lens_t;

static bool lens_push(lens_t* l, uint32_t v) {
  if (l->n == l->cap) {
    size_t c = l->cap ? l->cap * 2 : 1024;
    uint32_t* g = (uint32_t*)realloc(l->len, c * sizeof(uint32_t));
    if (!g) return false;
    l->len = g;
    l->cap = c;
  }
  l->len[l->n++] = v;
  return true;
}

// The chunks of one part appended to `all`; whether the part resynced (see chunker.mjs,
// rechunkLengths: a content-defined part stops at its first cut at or after resyncAfter that falls
// on one of the parent's boundaries).
static bool cut_part(job_t* j, const double* p, size_t shift, lens_t* all, uint32_t* count, uint8_t* resynced) {
  const uint8_t* data = j->seg->data + shift;
  size_t at = (size_t)p[0], length = (size_t)p[1];
  uint64_t base = (uint64_t)p[2];
  bool final = p[3] != 0;
  int mode = (int)p[4];
  double resync_after = p[5];
  const double* b = j->bounds + (size_t)p[6];
  size_t nb = (size_t)p[7];
  size_t before = all->n;
  if (at + length > j->seg->len) return job_fail(j, "%s", "a part lies outside the bytes read"), false;
  if (mode == MODE_GIVEN) {
    size_t pos = 0;
    for (size_t i = 0; i < nb; i++) {
      if (b[i] <= 0 || pos + (size_t)b[i] > length) return job_fail(j, "%s", "given chunk lengths do not fit the bytes"), false;
      if (!lens_push(all, (uint32_t)b[i])) return job_fail(j, "%s", "out of memory"), false;
      pos += (size_t)b[i];
    }
    *resynced = 1;
  } else if (mode == MODE_KEEP_CUTS) {
    size_t pos = 0;
    for (size_t i = 0; i < nb && (size_t)b[i] <= length; i++) {
      if ((size_t)b[i] > pos && !lens_push(all, (uint32_t)((size_t)b[i] - pos))) return job_fail(j, "%s", "out of memory"), false;
      pos = (size_t)b[i] > pos ? (size_t)b[i] : pos;
    }
    if (pos != length && !lens_push(all, (uint32_t)(length - pos))) return job_fail(j, "%s", "out of memory"), false;
    *resynced = 1;
  } else {
    size_t cap = length / (j->cut_min ? j->cut_min : 1) + length / 4096 + 64;
    uint32_t* tmp = (uint32_t*)scratch(SCRATCH_CUTS, cap * sizeof(uint32_t));
    if (!tmp) return job_fail(j, "%s", "out of memory"), false;
    size_t n = cut_all(data + at, length, final, base, j->cut_min, MAX_CHUNK, j->cut_mask, tmp, cap, NULL, NULL);
    size_t pos = 0, bi = 0;
    bool done = false;
    for (size_t k = 0; k < n && !done; k++) {
      if (!lens_push(all, tmp[k])) return job_fail(j, "%s", "out of memory"), false;
      pos += tmp[k];
      if ((double)pos < resync_after) continue;
      while (bi < nb && b[bi] < (double)pos) bi++;
      if ((bi < nb && b[bi] == (double)pos) || (final && pos == length)) done = true;
    }
    *resynced = done || final;
  }
  *count = (uint32_t)(all->n - before);
  return true;
}

// Every chunk's id: zero chunks are flagged and get none; the others are hashed together.
static bool name_all(job_t* j) {
  seg_t* s = j->seg;
  size_t n = s->n;
  s->starts = (size_t*)malloc((n ? n : 1) * sizeof(size_t));
  s->ids = (uint8_t*)calloc(n ? n : 1, 32);
  s->zero = (uint8_t*)calloc(n ? n : 1, 1);
  const uint8_t** ptrs = (const uint8_t**)scratch(SCRATCH_PTRS, (n ? n : 1) * sizeof(uint8_t*));
  size_t* lens = (size_t*)scratch(SCRATCH_LENS, (n ? n : 1) * sizeof(size_t));
  size_t* which = (size_t*)scratch(SCRATCH_WHICH, (n ? n : 1) * sizeof(size_t));
  uint8_t* out = (uint8_t*)scratch(SCRATCH_IDS, (n ? n : 1) * 32);
  if (!s->starts || !s->ids || !s->zero || !ptrs || !lens || !which || !out) return job_fail(j, "%s", "out of memory"), false;
  // Chunk starts: parts lie end to end only within themselves, so they come from the parts.
  size_t k = 0;
  for (size_t p = 0; p < j->nparts; p++) {
    size_t pos = (size_t)j->parts[p * PART_FIELDS] + (j->part_shift ? j->part_shift[p] : 0);
    for (uint32_t c = 0; c < j->part_counts[p]; c++, k++) {
      s->starts[k] = pos;
      pos += s->lengths[k];
    }
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t* c = s->data + s->starts[i];
    if (all_zero(c, s->lengths[i])) {
      s->zero[i] = 1;
      continue;
    }
    ptrs[m] = c;
    lens[m] = s->lengths[i];
    which[m++] = i;
  }
  if (j->has_id_key) hmac_sha256_many(j->id_key, 32, ptrs, lens, m, out);
  else sha256_many(ptrs, lens, m, out);
  for (size_t i = 0; i < m; i++) memcpy(s->ids + which[i] * 32, out + i * 32, 32);
  return true;
}

static bool run_name(job_t* j) {
  if (!read_source(j)) return false;
  j->part_counts = (uint32_t*)calloc(j->nparts ? j->nparts : 1, sizeof(uint32_t));
  j->resynced = (uint8_t*)calloc(j->nparts ? j->nparts : 1, 1);
  if (!j->part_counts || !j->resynced) return job_fail(j, "%s", "out of memory"), false;
  lens_t all = { 0 };
  for (size_t p = 0; p < j->nparts; p++) {
    if (!cut_part(j, j->parts + p * PART_FIELDS, j->part_shift ? j->part_shift[p] : 0, &all, &j->part_counts[p], &j->resynced[p])) {
      free(all.len);
      return false;
    }
  }
  j->seg->lengths = all.len;
  j->seg->n = (uint32_t)all.n;
  return name_all(j);
}

// ------------------------------------------------------------------------------------------- seal
static __thread ZSTD_CCtx* cctx;
static __thread EVP_CIPHER_CTX* gcm;

// The most a codec may make of `raw` bytes (both bounds: a repository may change codecs).
static size_t compress_bound(size_t raw) {
  size_t z = zstd.bound(raw);
  size_t l = lz4_ok ? (size_t)lz4.bound((int)raw) : 0;
  return z > l ? z : l;
}

static size_t record_bound(size_t raw) {
  size_t z = compress_bound(raw);
  return RECORD_HEADER + (z > raw ? z : raw) + GCM_NONCE + GCM_TAG;
}

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

// One chunk's payload at dst: compressed (LZ4 or zstd) unless it looks or turns out incompressible,
// then sealed with AES-256-GCM (nonce, ciphertext, tag) when the repository is encrypted. Returns its
// length, 0 on error.
static size_t seal_one(job_t* j, const uint8_t* raw, size_t n, uint8_t* dst, size_t room, uint8_t* codec, uint8_t* plain) {
  // Encrypted: the payload is built in `plain`, then encrypted into place.
  uint8_t* out = j->has_enc_key ? plain : dst;
  size_t length = 0;
  *codec = CODEC_RAW;
  if (!(n >= 4096 && sample_distinct(raw, n) > 200)) {
    size_t z;
    bool ok;
    if (j->codec == CODEC_LZ4) {
      int r = lz4.compress((const char*)raw, (char*)out, (int)n, (int)compress_bound(n), j->level);
      ok = r > 0;
      z = ok ? (size_t)r : 0;
    } else {
      if (!cctx) cctx = zstd.create();
      if (!cctx) return 0;
      z = zstd.compress(cctx, out, zstd.bound(n), raw, n, j->level);
      ok = !zstd.is_error(z);
    }
    // Data that compresses little is stored as it is: decompression would cost more than it saves.
    if (ok && (double)z < (double)n * 0.97) {
      *codec = (uint8_t)j->codec;
      length = z;
    }
  }
  if (*codec == CODEC_RAW) {
    memcpy(out, raw, n);
    length = n;
  }
  if (!j->has_enc_key) return length;
  if (room < GCM_NONCE + length + GCM_TAG) return 0;
  if (!gcm) gcm = EVP_CIPHER_CTX_new();
  int outl = 0, finl = 0;
  if (!gcm || RAND_bytes(dst, GCM_NONCE) != 1 || EVP_EncryptInit_ex(gcm, EVP_aes_256_gcm(), NULL, j->enc_key, dst) != 1 ||
      EVP_EncryptUpdate(gcm, dst + GCM_NONCE, &outl, out, (int)length) != 1 || EVP_EncryptFinal_ex(gcm, dst + GCM_NONCE + outl, &finl) != 1 ||
      EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, GCM_TAG, dst + GCM_NONCE + outl + finl) != 1)
    return 0;
  *codec |= CODEC_ENCRYPTED;
  return GCM_NONCE + (size_t)outl + (size_t)finl + GCM_TAG;
}

static bool run_seal(job_t* j) {
  seg_t* s = j->seg;
  size_t room = 0, longest = 0;
  for (size_t i = 0; i < j->nindices; i++) {
    if (j->indices[i] >= s->n || s->zero[j->indices[i]]) return job_fail(j, "%s", "seal: not a data chunk of the segment"), false;
    room += record_bound(s->lengths[j->indices[i]]);
    if (s->lengths[j->indices[i]] > longest) longest = s->lengths[j->indices[i]];
  }
  uint8_t* blob = j->slab && j->slab_len >= room ? j->slab : NULL;
  if (!blob) {
    blob = (uint8_t*)malloc(room ? room : 1);
    if (!blob) return job_fail(j, "%s", "out of memory for sealed records"), false;
    j->slab = NULL;
  }
  j->blob = blob;
  j->codecs = (uint8_t*)malloc(j->nindices ? j->nindices : 1);
  j->stored_len = (uint32_t*)malloc((j->nindices ? j->nindices : 1) * sizeof(uint32_t));
  j->at = (double*)malloc((j->nindices ? j->nindices : 1) * sizeof(double));
  // Encrypted: each payload is built here first (compressed, or as it is), then sealed into place.
  uint8_t* plain = j->has_enc_key ? (uint8_t*)scratch(SCRATCH_PTRS, compress_bound(longest) + longest) : NULL;
  if (!j->codecs || !j->stored_len || !j->at || (j->has_enc_key && !plain)) return job_fail(j, "%s", "out of memory"), false;
  size_t total = 0;
  for (size_t i = 0; i < j->nindices; i++) {
    uint32_t k = j->indices[i];
    size_t n = s->lengths[k];
    uint8_t* rec = blob + total;
    uint8_t codec;
    size_t length = seal_one(j, s->data + s->starts[k], n, rec + RECORD_HEADER, room - total - RECORD_HEADER, &codec, plain);
    if (!length) return job_fail(j, "%s", "sealing a chunk failed (compression or encryption)"), false;
    rec[0] = codec;
    put32(rec + 1, (uint32_t)length);
    put32(rec + 5, (uint32_t)n);
    memcpy(rec + 9, s->ids + (size_t)k * 32, 32);
    j->codecs[i] = codec;
    j->stored_len[i] = (uint32_t)length;
    j->at[i] = (double)(total + RECORD_HEADER);
    total += RECORD_HEADER + length;
  }
  j->blob_len = total;
  return true;
}

// ------------------------------------------------------------------------------------- the threads

// A source mapped from the page cache that is truncated while the engine reads it takes the pages
// away: touching one raises SIGBUS, which would end the process. The engine's threads run each
// job under a guard, and such a job fails with an error instead. A SIGBUS anywhere else goes to
// whatever handled it before (by default, the process ends as it would have).
static pthread_t guard_thread[MAX_THREADS];
static sigjmp_buf guard_jump[MAX_THREADS];
static volatile sig_atomic_t guard_on[MAX_THREADS];
static struct sigaction bus_before;

static void on_sigbus(int sig, siginfo_t* info, void* uc) {
  for (int i = 0; i < threads_started && i < MAX_THREADS; i++)
    if (guard_on[i] && pthread_equal(guard_thread[i], pthread_self())) siglongjmp(guard_jump[i], 1);
  // Not a guarded read: the fault happens again under the handler that was there before.
  sigaction(SIGBUS, &bus_before, NULL);
  (void)sig;
  (void)info;
  (void)uc;
}

// Runs a job on engine thread `me` under its guard.
static bool run_guarded(job_t* volatile j, int me) {
  if (sigsetjmp(guard_jump[me], 1) != 0) {
    guard_on[me] = 0;
    job_fail(j, "%s", "the source changed while it was read: part of it is gone (was the file truncated during the backup?)");
    return false;
  }
  guard_on[me] = 1;
  bool ok = j->kind == JOB_NAME ? run_name(j) : run_seal(j);
  guard_on[me] = 0;
  return ok;
}

static void* engine_thread(void* arg) {
  int me = (int)(intptr_t)arg;
  guard_thread[me] = pthread_self();
  for (;;) {
    pthread_mutex_lock(&q_lock);
    while (!q_seal_head && !q_name_head) pthread_cond_wait(&q_cond, &q_lock);
    job_t* j;
    if (q_seal_head) {
      j = q_seal_head;
      q_seal_head = j->next;
      if (!q_seal_head) q_seal_tail = NULL;
    } else {
      j = q_name_head;
      q_name_head = j->next;
      if (!q_name_head) q_name_tail = NULL;
    }
    pthread_mutex_unlock(&q_lock);
    j->next = NULL;
    bool ok = run_guarded(j, me);
    if (ok) j->error[0] = 0;
    else if (!j->error[0]) job_fail(j, "%s", "the backup engine failed");
    if (atomic_load(&j->es->closing) || napi_call_threadsafe_function(j->es->tsfn, j, napi_tsfn_nonblocking) != napi_ok) {
      // The environment is going away: nobody waits for this job any more.
      seg_unref(j->seg);
      job_free(j);
    }
  }
  return NULL;
}

static bool engine_start(uint32_t threads) {
  pthread_mutex_lock(&q_lock);
  bool ok = true;
  if (!threads_started) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &bus_before);
    for (uint32_t i = 0; i < threads; i++) {
      pthread_t t;
      pthread_attr_t a;
      pthread_attr_init(&a);
      pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
      if (pthread_create(&t, &a, engine_thread, (void*)(intptr_t)threads_started) == 0) threads_started++;
      pthread_attr_destroy(&a);
    }
    ok = threads_started > 0;
  }
  pthread_mutex_unlock(&q_lock);
  return ok;
}

static void submit(job_t* j) {
  env_state_t* es = j->es;
  if (es->pending++ == 0) napi_ref_threadsafe_function(es->env, es->tsfn);
  pthread_mutex_lock(&q_lock);
  job_t **head = j->kind == JOB_SEAL ? &q_seal_head : &q_name_head, **tail = j->kind == JOB_SEAL ? &q_seal_tail : &q_name_tail;
  if (*tail) (*tail)->next = j;
  else *head = j;
  *tail = j;
  pthread_cond_signal(&q_cond);
  pthread_mutex_unlock(&q_lock);
}

// ------------------------------------------------------------------------------ back on the JS thread
static napi_value typed(napi_env env, napi_typedarray_type type, const void* data, size_t n, size_t size) {
  void* dst;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n * size, &dst, &ab) != napi_ok) return NULL;
  if (n) memcpy(dst, data, n * size);
  if (napi_create_typedarray(env, type, n, ab, 0, &arr) != napi_ok) return NULL;
  return arr;
}

static void reject(napi_env env, napi_deferred d, const char* msg) {
  napi_value m, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_reject_deferred(env, d, e);
}

static void complete(napi_env env, napi_value js_cb, void* context, void* data) {
  (void)js_cb;
  env_state_t* es = (env_state_t*)context;
  job_t* j = (job_t*)data;
  seg_t* s = j->seg;
  if (env) {
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    s->busy = false;
    if (j->error[0]) {
      // A failed job's bytes are of no further use.
      if (s->bytes_kind != BYTES_NONE) seg_release_bytes(s);
      reject(env, j->deferred, j->error);
    } else if (j->kind == JOB_NAME) {
      napi_value res, seg_handle = NULL;
      napi_create_object(env, &res);
      napi_set_named_property(env, res, "lengths", typed(env, napi_uint32_array, s->lengths, s->n, sizeof(uint32_t)));
      napi_set_named_property(env, res, "partCounts", typed(env, napi_uint32_array, j->part_counts, j->nparts, sizeof(uint32_t)));
      napi_set_named_property(env, res, "resynced", typed(env, napi_uint8_array, j->resynced, j->nparts, 1));
      napi_set_named_property(env, res, "ids", typed(env, napi_uint8_array, s->ids, (size_t)s->n * 32, 1));
      napi_set_named_property(env, res, "zero", typed(env, napi_uint8_array, s->zero, s->n, 1));
      napi_value mapped;
      napi_get_boolean(env, s->bytes_kind == BYTES_MAPPED, &mapped);
      napi_set_named_property(env, res, "mapped", mapped);
      if (j->keep && !s->drop_after) {
        atomic_fetch_add(&s->refs, 1);
        napi_create_external(env, s, seg_finalize, NULL, &seg_handle);
        napi_set_named_property(env, res, "seg", seg_handle);
      } else seg_release_bytes(s);
      napi_resolve_deferred(env, j->deferred, res);
    } else {
      napi_value res, v;
      napi_create_object(env, &res);
      napi_set_named_property(env, res, "codecs", typed(env, napi_uint8_array, j->codecs, j->nindices, 1));
      napi_set_named_property(env, res, "storedLen", typed(env, napi_uint32_array, j->stored_len, j->nindices, sizeof(uint32_t)));
      napi_set_named_property(env, res, "at", typed(env, napi_float64_array, j->at, j->nindices, sizeof(double)));
      napi_create_double(env, (double)j->blob_len, &v);
      napi_set_named_property(env, res, "blobLen", v);
      if (j->slab) napi_get_null(env, &v);
      else napi_create_buffer_copy(env, j->blob_len, j->blob, NULL, &v);
      napi_set_named_property(env, res, "blob", v);
      // Sealed: the segment's bytes are of no further use.
      seg_release_bytes(s);
      napi_resolve_deferred(env, j->deferred, res);
    }
    if (s->drop_after && s->bytes_kind != BYTES_NONE) seg_release_bytes(s);
    if (j->slab_pin) napi_delete_reference(env, j->slab_pin);
    if (--es->pending == 0) napi_unref_threadsafe_function(env, es->tsfn);
    napi_close_handle_scope(env, scope);
  }
  seg_unref(s);
  job_free(j);
}

// ------------------------------------------------------------------------------------- the calls
#define ECHECK(call)                                                 \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, NULL, "quiesce_native engine: " #call); \
      goto fail;                                                     \
    }                                                                \
  } while (0)

static double* float64s(napi_env env, napi_value v, size_t* n) {
  napi_typedarray_type t;
  size_t len;
  void* d;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, &len, &d, &ab, &off) != napi_ok || t != napi_float64_array) return NULL;
  double* out = (double*)malloc((len ? len : 1) * sizeof(double));
  if (out && len) memcpy(out, d, len * sizeof(double));
  *n = len;
  return out;
}

static bool key32(napi_env env, napi_value v, uint8_t* key, bool* has) {
  napi_valuetype vt;
  if (napi_typeof(env, v, &vt) != napi_ok) return false;
  *has = false;
  if (vt == napi_null || vt == napi_undefined) return true;
  napi_typedarray_type t;
  size_t len;
  void* d;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, &len, &d, &ab, &off) != napi_ok || t != napi_uint8_array || len != 32) return false;
  memcpy(key, d, 32);
  *has = true;
  return true;
}

static env_state_t* env_of(napi_env env) {
  env_state_t* es;
  return napi_get_instance_data(env, (void**)&es) == napi_ok ? es : NULL;
}

// engineAvailable(codec = 'zstd') -> whether the engine can run here and seal with that codec
// (libzstd found; liblz4 too for 'lz4', and then decodeRecords reads every codec).
static napi_value engine_available(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  char name[8] = "zstd";
  pthread_once(&zstd_once, zstd_load);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype vt = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &vt);
  if (vt == napi_string && napi_get_value_string_utf8(env, argv[0], name, sizeof name, NULL) != napi_ok) return NULL;
  bool codec_ok = strcmp(name, "zstd") == 0 || (strcmp(name, "lz4") == 0 && lz4_ok);
  napi_get_boolean(env, zstd_ok && codec_ok && env_of(env) != NULL, &v);
  return v;
}

// engineName(threads, source: Uint8Array | null, fd, reads: Float64Array, length, mappable,
//            parts: Float64Array, bounds: Float64Array, cutMin, cutMask, idKey: Uint8Array | null, keep)
//   -> Promise<{ seg?, lengths, partCounts, resynced, ids, zero, mapped }> (mapped: the reads were
//      mapped from the page cache, not copied)
static napi_value engine_name(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12], promise = NULL;
  job_t* j = NULL;
  seg_t* s = NULL;
  ECHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  env_state_t* es = env_of(env);
  pthread_once(&zstd_once, zstd_load);
  if (argc < 12 || !es || !zstd_ok) {
    napi_throw_error(env, NULL, "engineName: the engine is not available here or was called with too few arguments");
    return NULL;
  }
  uint32_t threads, cut_min, cut_mask;
  int32_t fd;
  double length;
  bool mappable, keep;
  ECHECK(napi_get_value_uint32(env, argv[0], &threads));
  ECHECK(napi_get_value_int32(env, argv[2], &fd));
  ECHECK(napi_get_value_double(env, argv[4], &length));
  ECHECK(napi_get_value_bool(env, argv[5], &mappable));
  ECHECK(napi_get_value_uint32(env, argv[8], &cut_min));
  ECHECK(napi_get_value_uint32(env, argv[9], &cut_mask));
  ECHECK(napi_get_value_bool(env, argv[11], &keep));
  j = (job_t*)calloc(1, sizeof(job_t));
  s = (seg_t*)calloc(1, sizeof(seg_t));
  if (!j || !s) {
    napi_throw_error(env, NULL, "out of memory");
    goto fail;
  }
  atomic_init(&s->refs, 1);
  s->env = env;
  s->len = (size_t)length;
  j->kind = JOB_NAME;
  j->es = es;
  j->seg = s;
  j->fd = fd;
  j->mappable = mappable;
  j->cut_min = cut_min;
  j->cut_mask = cut_mask;
  j->keep = keep;
  napi_valuetype vt;
  ECHECK(napi_typeof(env, argv[1], &vt));
  if (vt != napi_null && vt != napi_undefined) {
    napi_typedarray_type t;
    size_t len;
    void* d;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, argv[1], &t, &len, &d, &ab, &off) != napi_ok || t != napi_uint8_array || len < s->len) {
      napi_throw_type_error(env, NULL, "engineName: the source must be a Uint8Array of at least `length` bytes");
      goto fail;
    }
    ECHECK(napi_create_reference(env, argv[1], 1, &s->pin));
    s->bytes_kind = BYTES_PINNED;
    s->data = (const uint8_t*)d;
  } else if (fd < 0) {
    napi_throw_type_error(env, NULL, "engineName: give a source buffer or a descriptor");
    goto fail;
  }
  size_t nreads;
  if (!(j->reads = float64s(env, argv[3], &nreads)) || nreads % 3 || !(j->parts = float64s(env, argv[6], &j->nparts)) || j->nparts % PART_FIELDS ||
      !(j->bounds = float64s(env, argv[7], &j->nbounds)) || !key32(env, argv[10], j->id_key, &j->has_id_key)) {
    napi_throw_type_error(env, NULL, "engineName: reads, parts and bounds must be Float64Arrays of whole records; idKey 32 bytes or null");
    goto fail;
  }
  j->nreads = nreads / 3;
  j->nparts /= PART_FIELDS;
  for (size_t p = 0; p < j->nparts; p++) {
    const double* q = j->parts + p * PART_FIELDS;
    if (q[0] < 0 || q[1] < 0 || q[0] + q[1] > length || q[6] < 0 || q[6] + q[7] > (double)j->nbounds) {
      napi_throw_range_error(env, NULL, "engineName: a part lies outside the bytes or its bounds");
      goto fail;
    }
  }
  for (size_t r = 0; r < j->nreads; r++)
    if (j->reads[3 * r] < 0 || j->reads[3 * r + 1] < 0 || j->reads[3 * r + 1] + j->reads[3 * r + 2] > length) {
      napi_throw_range_error(env, NULL, "engineName: a read lies outside the buffer");
      goto fail;
    }
  if (!engine_start(threads)) {
    napi_throw_error(env, NULL, "engineName: cannot start the engine's threads");
    goto fail;
  }
  // The pages are asked for now: the device reads them while earlier jobs are hashed.
  if (s->bytes_kind != BYTES_PINNED)
    for (size_t r = 0; r < j->nreads; r++) posix_fadvise(fd, (off_t)j->reads[3 * r], (off_t)j->reads[3 * r + 2], POSIX_FADV_WILLNEED);
  ECHECK(napi_create_promise(env, &j->deferred, &promise));
  s->busy = true;
  submit(j);
  return promise;
fail:
  if (s && s->pin) napi_delete_reference(env, s->pin);
  if (j) job_free(j);
  free(s);
  return NULL;
}

// engineSeal(seg, indices: Uint32Array, slab: Uint8Array | null, codec, level, encKey: Uint8Array | null)
//   codec: 1 zstd (level: zstd's), 2 LZ4 (level: its acceleration, 1 and up)
//   -> Promise<{ codecs, storedLen, at, blobLen, blob: Buffer | null }>  (blob: when the slab was null or too small)
static napi_value engine_seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], promise = NULL;
  job_t* j = NULL;
  ECHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  env_state_t* es = env_of(env);
  seg_t* s = NULL;
  if (argc < 6 || !es || napi_get_value_external(env, argv[0], (void**)&s) != napi_ok || !s) {
    napi_throw_type_error(env, NULL, "engineSeal(seg, indices, slab, codec, level, encKey)");
    return NULL;
  }
  if (s->busy || s->bytes_kind == BYTES_NONE) {
    napi_throw_error(env, NULL, "engineSeal: the segment is busy or was already sealed or dropped");
    return NULL;
  }
  j = (job_t*)calloc(1, sizeof(job_t));
  if (!j) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->kind = JOB_SEAL;
  j->es = es;
  j->seg = s;
  napi_typedarray_type t;
  size_t len;
  void* d;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &d, &ab, &off) != napi_ok || t != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "engineSeal: indices must be a Uint32Array");
    goto fail;
  }
  j->indices = (uint32_t*)malloc((len ? len : 1) * sizeof(uint32_t));
  if (!j->indices) goto fail;
  if (len) memcpy(j->indices, d, len * sizeof(uint32_t));
  j->nindices = len;
  napi_valuetype vt;
  ECHECK(napi_typeof(env, argv[2], &vt));
  if (vt != napi_null && vt != napi_undefined) {
    if (napi_get_typedarray_info(env, argv[2], &t, &len, &d, &ab, &off) != napi_ok || t != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "engineSeal: the slab must be a Uint8Array or null");
      goto fail;
    }
    ECHECK(napi_create_reference(env, argv[2], 1, &j->slab_pin));
    j->slab = (uint8_t*)d;
    j->slab_len = len;
  }
  ECHECK(napi_get_value_int32(env, argv[3], &j->codec));
  ECHECK(napi_get_value_int32(env, argv[4], &j->level));
  if (!(j->codec == CODEC_ZSTD || (j->codec == CODEC_LZ4 && lz4_ok && j->level >= 1))) {
    napi_throw_range_error(env, NULL, "engineSeal: codec must be 1 (zstd) or 2 (LZ4, acceleration 1 and up, with liblz4 here)");
    goto fail;
  }
  if (!key32(env, argv[5], j->enc_key, &j->has_enc_key)) {
    napi_throw_type_error(env, NULL, "engineSeal: encKey must be 32 bytes or null");
    goto fail;
  }
  ECHECK(napi_create_promise(env, &j->deferred, &promise));
  atomic_fetch_add(&s->refs, 1);
  s->busy = true;
  submit(j);
  return promise;
fail:
  if (j && j->slab_pin) napi_delete_reference(env, j->slab_pin);
  if (j) {
    j->slab = NULL;
    job_free(j);
  }
  return NULL;
}

// engineDrop(seg): the segment's bytes go (now, or when the job using them ends).
static napi_value engine_drop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  seg_t* s = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_external(env, argv[0], (void**)&s) != napi_ok || !s) {
    napi_throw_type_error(env, NULL, "engineDrop(seg)");
    return NULL;
  }
  if (s->busy) s->drop_after = true;
  else if (s->bytes_kind != BYTES_NONE) seg_release_bytes(s);
  return NULL;
}

// The ids of the spans data[starts[i], starts[i] + lengths[i]) into out (32 bytes each): SHA-256, or
// HMAC-SHA-256 with `key`. 0 when a span lies outside data (nothing hashed), -1 out of memory.
static int hash_spans(const uint8_t* data, size_t len, const double* starts, const double* lengths, size_t n, const uint8_t* key, uint8_t* out) {
  const uint8_t** ptrs = (const uint8_t**)malloc((n ? n : 1) * sizeof(uint8_t*));
  size_t* lens = (size_t*)malloc((n ? n : 1) * sizeof(size_t));
  int ok = ptrs && lens ? 1 : -1;
  for (size_t i = 0; i < n && ok == 1; i++) {
    if (starts[i] < 0 || lengths[i] < 0 || starts[i] + lengths[i] > (double)len) ok = 0;
    else {
      ptrs[i] = data + (size_t)starts[i];
      lens[i] = (size_t)lengths[i];
    }
  }
  if (ok == 1 && key) hmac_sha256_many(key, 32, ptrs, lens, n, out);
  else if (ok == 1) sha256_many(ptrs, lens, n, out);
  free(ptrs);
  free(lens);
  return ok;
}

// ----------------------------------------------------------------------------------- restore: decode
// decodeRecords(spans: Uint8Array[], recSpan: Uint32Array, recAt: Float64Array, storedLen: Uint32Array,
//               rawLen: Uint32Array, codec: Uint8Array, out: Uint8Array, outAt: Float64Array,
//               encKey: Uint8Array | null, status: Uint8Array) -> how many records failed
// Decodes every record of a restore batch into `out` at `outAt` on the calling thread (a restore
// worker): record i's payload is spans[recSpan[i]] at recAt[i], storedLen[i] bytes; decrypted
// (AES-256-GCM: nonce, ciphertext, tag) when its codec says so, then decompressed or copied.
// status[i]: 0 decoded, else a DECODE_* code (the caller words it). The ids are checked after.
enum { DECODE_OK, DECODE_BAD_CODEC, DECODE_NO_KEY, DECODE_AUTH, DECODE_CORRUPT, DECODE_LENGTH, DECODE_OUTSIDE };
static __thread ZSTD_DCtx* dctx;
static __thread EVP_CIPHER_CTX* gcm_d;
static __thread uint8_t* plain_d;
static __thread size_t plain_d_cap;

static int decode_one(const uint8_t* p, size_t stored, uint8_t codec, uint8_t* dst, size_t raw, const uint8_t* key) {
  if (codec & CODEC_ENCRYPTED) {
    if (!key) return DECODE_NO_KEY;
    if (stored < GCM_NONCE + GCM_TAG) return DECODE_AUTH;
    size_t n = stored - GCM_NONCE - GCM_TAG;
    if (n > plain_d_cap) {
      uint8_t* g = (uint8_t*)realloc(plain_d, n);
      if (!g) return DECODE_CORRUPT;
      plain_d = g;
      plain_d_cap = n;
    }
    if (!gcm_d) gcm_d = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0;
    if (!gcm_d || EVP_DecryptInit_ex(gcm_d, EVP_aes_256_gcm(), NULL, key, p) != 1 ||
        EVP_DecryptUpdate(gcm_d, plain_d, &outl, p + GCM_NONCE, (int)n) != 1 ||
        EVP_CIPHER_CTX_ctrl(gcm_d, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void*)(p + GCM_NONCE + n)) != 1 ||
        EVP_DecryptFinal_ex(gcm_d, plain_d + outl, &finl) != 1)
      return DECODE_AUTH;
    p = plain_d;
    stored = (size_t)outl + (size_t)finl;
  }
  uint8_t base = codec & (uint8_t)~CODEC_ENCRYPTED;
  if (base == CODEC_RAW) {
    if (stored != raw) return DECODE_LENGTH;
    memcpy(dst, p, raw);
    return DECODE_OK;
  }
  if (base == CODEC_LZ4 && lz4_ok) {
    int got = lz4.decompress((const char*)p, (char*)dst, (int)stored, (int)raw);
    if (got < 0) return DECODE_CORRUPT;
    return (size_t)got == raw ? DECODE_OK : DECODE_LENGTH;
  }
  if (base != CODEC_ZSTD) return DECODE_BAD_CODEC;
  if (!dctx) dctx = zstd.create_d();
  if (!dctx) return DECODE_CORRUPT;
  size_t got = zstd.decompress(dctx, dst, raw, p, stored);
  if (zstd.is_error(got)) return DECODE_CORRUPT;
  return got == raw ? DECODE_OK : DECODE_LENGTH;
}

static napi_value decode_records(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10], res = NULL;
  pthread_once(&zstd_once, zstd_load);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  uint32_t nspans = 0;
  bool is_array = false;
  if (argc < 10 || !zstd_ok || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[0], &nspans) != napi_ok) {
    napi_throw_type_error(env, NULL, "decodeRecords(spans, recSpan, recAt, storedLen, rawLen, codec, out, outAt, encKey, status): needs libzstd and 10 arguments");
    return NULL;
  }
  const uint8_t** span = (const uint8_t**)calloc(nspans ? nspans : 1, sizeof(uint8_t*));
  size_t* span_len = (size_t*)calloc(nspans ? nspans : 1, sizeof(size_t));
  if (!span || !span_len) goto done;
  for (uint32_t i = 0; i < nspans; i++) {
    napi_value el;
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || !(span[i] = (const uint8_t*)typed_arg(env, el, napi_uint8_array, &span_len[i]))) {
      napi_throw_type_error(env, NULL, "decodeRecords: spans must be Uint8Arrays");
      goto done;
    }
  }
  {
    void* a[8];
    size_t n[8];
    napi_typedarray_type want[8] = { napi_uint32_array, napi_float64_array, napi_uint32_array, napi_uint32_array, napi_uint8_array, napi_uint8_array, napi_float64_array, napi_uint8_array };
    int at[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };
    for (int k = 0; k < 8; k++) {
      if (!(a[k] = typed_arg(env, argv[at[k]], want[k], &n[k]))) {
        napi_throw_type_error(env, NULL, "decodeRecords: wrong argument types");
        goto done;
      }
    }
    size_t count = n[0];
    if (n[1] != count || n[2] != count || n[3] != count || n[4] != count || n[6] != count || n[7] != count) {
      napi_throw_range_error(env, NULL, "decodeRecords: every per-record array needs one value per record");
      goto done;
    }
    uint8_t key[32];
    bool has_key = false;
    if (!key32(env, argv[8], key, &has_key)) {
      napi_throw_type_error(env, NULL, "decodeRecords: encKey must be 32 bytes or null");
      goto done;
    }
    const uint32_t* rec_span = (const uint32_t*)a[0];
    const double* rec_at = (const double*)a[1];
    const uint32_t* stored = (const uint32_t*)a[2];
    const uint32_t* raw = (const uint32_t*)a[3];
    const uint8_t* codec = (const uint8_t*)a[4];
    uint8_t* out = (uint8_t*)a[5];
    size_t out_len = n[5];
    const double* out_at = (const double*)a[6];
    uint8_t* status = (uint8_t*)a[7];
    uint32_t bad = 0;
    for (size_t i = 0; i < count; i++) {
      uint32_t s = rec_span[i];
      int st;
      if (s >= nspans || rec_at[i] < 0 || rec_at[i] + stored[i] > (double)span_len[s] || out_at[i] < 0 || out_at[i] + raw[i] > (double)out_len) st = DECODE_OUTSIDE;
      else st = decode_one(span[s] + (size_t)rec_at[i], stored[i], codec[i], out + (size_t)out_at[i], raw[i], has_key ? key : NULL);
      status[i] = (uint8_t)st;
      if (st != DECODE_OK) bad++;
    }
    napi_create_uint32(env, bad, &res);
  }
done:
  free(span);
  free(span_len);
  return res;
}

// engineHashMany(msgs: Uint8Array, starts: Float64Array, lengths: Float64Array, key: Uint8Array | null,
//                impl: number) -> Uint8Array of ids (32 bytes each): the engine's naming, for tests
//                (impl 0 forces the scalar path, 1 the lanes, -1 whatever the machine has).
static napi_value engine_hash_many(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], res = NULL;
  double *starts = NULL, *lengths = NULL;
  uint8_t* out = NULL;
  size_t ns = 0, nl = 0;
  napi_typedarray_type t;
  size_t len;
  void* d;
  napi_value ab;
  size_t off;
  uint8_t key[32];
  bool has_key = false;
  int32_t impl = -1;
  ECHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || napi_get_typedarray_info(env, argv[0], &t, &len, &d, &ab, &off) != napi_ok || t != napi_uint8_array ||
      !(starts = float64s(env, argv[1], &ns)) || !(lengths = float64s(env, argv[2], &nl)) || ns != nl || !key32(env, argv[3], key, &has_key) ||
      napi_get_value_int32(env, argv[4], &impl) != napi_ok) {
    napi_throw_type_error(env, NULL, "engineHashMany(msgs, starts, lengths, key, impl)");
    goto fail;
  }
  if (!(out = (uint8_t*)malloc((ns ? ns : 1) * 32))) goto fail;
  int was = sha256_lanes_impl();
  if (impl >= 0) sha256_lanes_force(impl);
  int ok = hash_spans((const uint8_t*)d, len, starts, lengths, ns, has_key ? key : NULL, out);
  if (impl >= 0) sha256_lanes_force(was);
  if (ok == 1) res = typed(env, napi_uint8_array, out, ns * 32, 1);
  else napi_throw_range_error(env, NULL, ok == 0 ? "engineHashMany: a message lies outside the buffer" : "out of memory");
fail:
  free(starts);
  free(lengths);
  free(out);
  return res;
}

// checkIds(data: Uint8Array, starts: Float64Array, lengths: Float64Array, ids: Uint8Array, idAt: Float64Array,
//          key: Uint8Array | null, bad: Uint8Array) -> how many chunks do not match their ids
// Chunk i is data[starts[i], starts[i] + lengths[i]); its id is ids[idAt[i], idAt[i] + 32) (SHA-256,
// or HMAC-SHA-256 with `key`); bad[i] is set to 1 when they differ. Restores and verification check
// every chunk they decode this way, 16 at a time, on the calling thread.
static napi_value check_ids(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], res = NULL;
  double *starts = NULL, *lengths = NULL, *id_at = NULL;
  uint8_t* out = NULL;
  size_t ns = 0, nl = 0, na = 0, nd, ni, nb;
  napi_typedarray_type t;
  void *data, *ids, *bad;
  napi_value ab;
  size_t off;
  uint8_t key[32];
  bool has_key = false;
  ECHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7 || napi_get_typedarray_info(env, argv[0], &t, &nd, &data, &ab, &off) != napi_ok || t != napi_uint8_array ||
      !(starts = float64s(env, argv[1], &ns)) || !(lengths = float64s(env, argv[2], &nl)) ||
      napi_get_typedarray_info(env, argv[3], &t, &ni, &ids, &ab, &off) != napi_ok || t != napi_uint8_array || !(id_at = float64s(env, argv[4], &na)) ||
      !key32(env, argv[5], key, &has_key) || napi_get_typedarray_info(env, argv[6], &t, &nb, &bad, &ab, &off) != napi_ok || t != napi_uint8_array ||
      ns != nl || ns != na || nb < ns) {
    napi_throw_type_error(env, NULL, "checkIds(data, starts, lengths, ids, idAt, key, bad)");
    goto fail;
  }
  for (size_t i = 0; i < ns; i++)
    if (id_at[i] < 0 || id_at[i] + 32 > (double)ni) {
      napi_throw_range_error(env, NULL, "checkIds: a chunk or an id lies outside its buffer");
      goto fail;
    }
  if (!(out = (uint8_t*)malloc((ns ? ns : 1) * 32))) goto fail;
  int ok = hash_spans((const uint8_t*)data, nd, starts, lengths, ns, has_key ? key : NULL, out);
  if (ok != 1) {
    napi_throw_range_error(env, NULL, ok == 0 ? "checkIds: a chunk or an id lies outside its buffer" : "out of memory");
    goto fail;
  }
  uint32_t mismatched = 0;
  for (size_t i = 0; i < ns; i++) {
    uint8_t differs = memcmp(out + i * 32, (const uint8_t*)ids + (size_t)id_at[i], 32) != 0;
    ((uint8_t*)bad)[i] = differs;
    mismatched += differs;
  }
  napi_create_uint32(env, mismatched, &res);
fail:
  free(starts);
  free(lengths);
  free(id_at);
  free(out);
  return res;
}

// engineHashImpl() -> 1 when ids are computed 16 at a time with AVX-512, 0 one at a time.
static napi_value engine_hash_impl(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, sha256_lanes_impl(), &v);
  return v;
}

static void env_cleanup(void* arg) {
  env_state_t* es = (env_state_t*)arg;
  atomic_store(&es->closing, true);
  napi_release_threadsafe_function(es->tsfn, napi_tsfn_abort);
}


void engine_register(napi_env env, napi_value exports) {
  env_state_t* es = (env_state_t*)calloc(1, sizeof(env_state_t));
  napi_value name;
  if (es && napi_create_string_utf8(env, "quiesce backup engine", NAPI_AUTO_LENGTH, &name) == napi_ok &&
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, es, complete, &es->tsfn) == napi_ok) {
    es->env = env;
    atomic_init(&es->closing, false);
    napi_unref_threadsafe_function(env, es->tsfn);
    // Never freed: jobs still running when the environment goes see `closing` through it.
    napi_set_instance_data(env, es, NULL, NULL);
    napi_add_env_cleanup_hook(env, env_cleanup, es);
  } else free(es);
  napi_property_descriptor props[] = {
    { "engineAvailable", NULL, engine_available, NULL, NULL, NULL, napi_default, NULL },
    { "engineName", NULL, engine_name, NULL, NULL, NULL, napi_default, NULL },
    { "engineSeal", NULL, engine_seal, NULL, NULL, NULL, napi_default, NULL },
    { "engineDrop", NULL, engine_drop, NULL, NULL, NULL, napi_default, NULL },
    { "engineHashMany", NULL, engine_hash_many, NULL, NULL, NULL, napi_default, NULL },
    { "decodeRecords", NULL, decode_records, NULL, NULL, NULL, napi_default, NULL },
    { "engineHashImpl", NULL, engine_hash_impl, NULL, NULL, NULL, napi_default, NULL },
    { "checkIds", NULL, check_ids, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

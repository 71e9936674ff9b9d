// The data plane's native addon (loaded by server/repository/native.mjs):
//   chunk        content-defined chunking, the same cuts as server/repository/chunker.mjs (the
//                reference implementation; tests check both agree), several times faster;
//   chunkNamed   the same cuts, each chunk SHA-256-named right after its cut (and nameChunks for
//                chunks cut elsewhere);
//   dataExtents  where a sparse file has data (SEEK_DATA / SEEK_HOLE);
//   directWrite  aligned O_DIRECT writes on libuv's thread pool (and hugePages, which lays a
//                buffer's bytes where they are written in whole device requests);
//   mapRange     a read-only view of a file range (mmap, populated on libuv's thread pool) and
//   unmapRange   its prompt release;
//   indexInsert  a pack index file's entries into the chunk index's hash table (chunk-index.ts).
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdbool.h>
#include "data-plane.h"
// SHA-256 from the OpenSSL inside Node (its symbols are the process's; declared here so no OpenSSL
// headers are needed): the ids node:crypto gives chunks, computed where the chunk was just cut.
unsigned char* SHA256(const unsigned char* d, size_t n, unsigned char* md);

static int32_t GEAR[256];
static uint8_t ZERO[65536];

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "quiesce_native: " #call); return NULL; } } while (0)

// A typed array argument's data and element count, of the expected type (else NULL).
void* typed_arg(napi_env env, napi_value v, napi_typedarray_type want, size_t* n) {
  napi_typedarray_type t; void* d; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &t, n, &d, &ab, &off) != napi_ok || t != want) return NULL;
  return d ? d : (void*)"";
}

static napi_value set_gear(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type type; size_t length; void* data; napi_value ab; size_t off;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &off));
  if (type != napi_int32_array || length != 256) { napi_throw_error(env, NULL, "gear table must be an Int32Array(256)"); return NULL; }
  memcpy(GEAR, data, sizeof(GEAR));
  return NULL;
}

int all_zero(const uint8_t* p, size_t n) {
  while (n > 0) {
    size_t k = n < sizeof(ZERO) ? n : sizeof(ZERO);
    if (memcmp(p, ZERO, k) != 0) return 0;
    p += k; n -= k;
  }
  return 1;
}

// The first cut in buf[i, lim) (the hash starts from 0 at i): one past the byte after which
// h = (h << 1) + GEAR[byte] has every mask bit clear, or -1. Four bytes per step: each of the
// four hashes is computed from the step's starting h (h << k plus terms of the bytes alone), so
// the chain from one step to the next is one shift and one add instead of four of each; the cuts
// are exactly those of the byte-at-a-time loop (unsigned arithmetic wraps the same way).
static long gear_cut_scalar(const uint8_t* buf, size_t i, size_t lim, uint32_t mask, uint32_t h) {
  for (; i + 4 <= lim; i += 4) {
    uint32_t g0 = (uint32_t)GEAR[buf[i]], g1 = (uint32_t)GEAR[buf[i + 1]];
    uint32_t g2 = (uint32_t)GEAR[buf[i + 2]], g3 = (uint32_t)GEAR[buf[i + 3]];
    uint32_t t1 = (g0 << 1) + g1, t2 = (t1 << 1) + g2, t3 = (t2 << 1) + g3;
    uint32_t h1 = (h << 1) + g0, h2 = (h << 2) + t1, h3 = (h << 3) + t2, h4 = (h << 4) + t3;
    if (((h1 & mask) == 0) | ((h2 & mask) == 0) | ((h3 & mask) == 0) | ((h4 & mask) == 0)) {
      if ((h1 & mask) == 0) return (long)(i + 1);
      if ((h2 & mask) == 0) return (long)(i + 2);
      if ((h3 & mask) == 0) return (long)(i + 3);
      return (long)(i + 4);
    }
    h = h4;
  }
  for (; i < lim; i++) {
    h = (h << 1) + (uint32_t)GEAR[buf[i]];
    if ((h & mask) == 0) return (long)(i + 1);
  }
  return -1;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// The same cuts, sixteen bytes at a time with AVX-512. The hash after byte i is the sum of
// GEAR[b_j] << (i - j) over the bytes since the start (shifted out after 32), so a block's sixteen
// hashes are a prefix sum: the block's own terms (a gather, then four shift-and-add steps across
// lanes), plus the hash before the block shifted left by each lane's distance. A lane whose hash
// has every mask bit clear is a cut; the first one wins.
__attribute__((target("avx512f"))) static long gear_cut_avx512(const uint8_t* buf, size_t i, size_t lim, uint32_t mask) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i vmask = _mm512_set1_epi32((int)mask);
  const __m512i dist = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const __m512i last = _mm512_set1_epi32(15);
  __m512i h = zero; // the hash before the block, in every lane
  for (; i + 16 <= lim; i += 16) {
    __m512i g = _mm512_i32gather_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(buf + i))), GEAR, 4);
    g = _mm512_add_epi32(g, _mm512_slli_epi32(_mm512_alignr_epi32(g, zero, 15), 1));
    g = _mm512_add_epi32(g, _mm512_slli_epi32(_mm512_alignr_epi32(g, zero, 14), 2));
    g = _mm512_add_epi32(g, _mm512_slli_epi32(_mm512_alignr_epi32(g, zero, 12), 4));
    g = _mm512_add_epi32(g, _mm512_slli_epi32(_mm512_alignr_epi32(g, zero, 8), 8));
    __m512i hv = _mm512_add_epi32(g, _mm512_sllv_epi32(h, dist));
    __mmask16 cut = _mm512_testn_epi32_mask(hv, vmask);
    if (cut) return (long)(i + (size_t)__builtin_ctz(cut) + 1);
    h = _mm512_permutexvar_epi32(last, hv);
  }
  // The last bytes one at a time, from the hash so far.
  return gear_cut_scalar(buf, i, lim, mask, (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(h)));
}

// 1: AVX-512 (when the CPU has it), 0: one byte at a time; gearImpl(n) sets it (tests compare both).
static int gear_impl = -1;
#endif

static long gear_cut(const uint8_t* buf, size_t i, size_t lim, uint32_t mask) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (gear_impl < 0) gear_impl = __builtin_cpu_supports("avx512f") ? 1 : 0;
  if (gear_impl == 1) return gear_cut_avx512(buf, i, lim, mask);
#endif
  return gear_cut_scalar(buf, i, lim, mask, 0);
}

// gearImpl(n?) -> the implementation cuts use (1: AVX-512, 0: one byte at a time); n sets it
// (only to what the CPU has): tests compare both.
static napi_value gear_impl_call(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int impl = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  int can = __builtin_cpu_supports("avx512f") ? 1 : 0;
  if (gear_impl < 0) gear_impl = can;
  if (argc >= 1) {
    int32_t want;
    CHECK(napi_get_value_int32(env, argv[0], &want));
    gear_impl = want == 1 ? can : 0;
  }
  impl = gear_impl;
#endif
  napi_value v;
  CHECK(napi_create_int32(env, impl, &v));
  return v;
}

// A new typed array of `n` elements holding a copy of `data` (malloc'd; freed here, also on failure).
static napi_value typed_copy(napi_env env, napi_typedarray_type type, void* data, size_t n, size_t size) {
  napi_value ab, result = NULL;
  void* dst;
  if (napi_create_arraybuffer(env, n * size, &dst, &ab) == napi_ok) {
    memcpy(dst, data, n * size);
    if (napi_create_typedarray(env, type, n, ab, 0, &result) != napi_ok) result = NULL;
  }
  free(data);
  if (!result) napi_throw_error(env, NULL, "quiesce_native: cannot create the result array");
  return result;
}

// Names one chunk: 1 when it is all zeros (no id), else 0 with its SHA-256 in `id`.
static int name_one(const uint8_t* p, size_t n, uint8_t* id) {
  if (all_zero(p, n)) { memset(id, 0, 32); return 1; }
  SHA256(p, n, id);
  return 0;
}

// Cuts buf[0, len) (at disk offset `base`) into at most `cap` chunks, their lengths into `out`;
// with `ids` and `zero`, each chunk is also named the moment it is cut, while its bytes are still
// in the core's cache. Returns the count.
size_t cut_all(const uint8_t* buf, size_t len, bool final, uint64_t base, uint32_t min, uint32_t max, uint32_t mask, uint32_t* out, size_t cap, uint8_t* ids, uint8_t* zero) {
  size_t n = 0, start = 0;
  while (start < len && n < cap) {
    uint64_t abs = base + start;
    size_t grid = (size_t)(((abs / max) + 1) * max - base);
    size_t zend = grid < len ? grid : len;
    if (all_zero(buf + start, zend - start)) {
      if (zend < grid && !final) break;
      if (ids) { memset(ids + n * 32, 0, 32); zero[n] = 1; }
      out[n++] = (uint32_t)(zend - start);
      start = zend;
      continue;
    }
    size_t lim = start + max < len ? start + max : len;
    size_t i = start + min;
    long cut = -1;
    if (i < lim) cut = gear_cut(buf, i, lim, mask);
    if (cut < 0) {
      if (lim - start == max) {
        // Ends in zeros? Cut at the first grid point 64 bytes into the zero tail (see chunker.mjs).
        size_t z = lim;
        while (z > start && buf[z - 1] == 0) z--;
        size_t from = z + 64 > start + min ? z + 64 : start + min;
        uint64_t g = ((base + from + max - 1) / max) * max - base;
        cut = g < lim ? (long)g : (long)lim;
      } else if (final) cut = (long)len;
      else break;
    }
    if (ids) zero[n] = (uint8_t)name_one(buf + start, (size_t)cut - start, ids + n * 32);
    out[n++] = (uint32_t)((size_t)cut - start);
    start = (size_t)cut;
  }
  return n;
}

/** The arguments chunk() and chunkNamed() share: buf, len, final, base, min, max, mask. */
typedef struct { const uint8_t* buf; size_t len; bool final; uint64_t base; uint32_t min, max; int32_t mask; size_t cap; } cut_args_t;

static int cut_args(napi_env env, napi_value* argv, cut_args_t* a) {
  napi_typedarray_type type; size_t blen; void* bdata; napi_value bab; size_t boff;
  double dlen, dbase;
  if (napi_get_typedarray_info(env, argv[0], &type, &blen, &bdata, &bab, &boff) != napi_ok || napi_get_value_double(env, argv[1], &dlen) != napi_ok ||
      napi_get_value_bool(env, argv[2], &a->final) != napi_ok || napi_get_value_double(env, argv[3], &dbase) != napi_ok || napi_get_value_uint32(env, argv[4], &a->min) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &a->max) != napi_ok || napi_get_value_int32(env, argv[6], &a->mask) != napi_ok || type != napi_uint8_array || a->max == 0) {
    napi_throw_type_error(env, NULL, "chunk(buf: Uint8Array, len, final, base, min, max, mask)");
    return 0;
  }
  a->buf = (const uint8_t*)bdata;
  a->len = (size_t)dlen < blen ? (size_t)dlen : blen;
  a->base = (uint64_t)dbase;
  // At most one chunk per `min` bytes of data plus one per grid step of zeros (generously).
  a->cap = a->len / (a->min ? a->min : 1) + a->len / 4096 + 64;
  return 1;
}

// chunk(buf: Uint8Array, len, final, base, min, max, mask) -> Uint32Array of chunk lengths;
// chunkNamed(same arguments) -> [lengths: Uint32Array, zero: Uint8Array, ids: Uint8Array (32 bytes
// per chunk, SHA-256; zeros for zero chunks)]: the same cuts, each chunk named right after its cut.
static napi_value cut_call(napi_env env, napi_callback_info info, bool named) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cut_args_t a;
  if (!cut_args(env, argv, &a)) return NULL;
  uint32_t* out = (uint32_t*)malloc(a.cap * sizeof(uint32_t));
  uint8_t* zero = named ? (uint8_t*)malloc(a.cap) : NULL;
  uint8_t* ids = named ? (uint8_t*)malloc(a.cap * 32) : NULL;
  if (!out || (named && (!zero || !ids))) { free(out); free(zero); free(ids); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  size_t n = cut_all(a.buf, a.len, a.final, a.base, a.min, a.max, (uint32_t)a.mask, out, a.cap, ids, zero);
  // typed_copy frees what it copies, also when it fails.
  napi_value l = typed_copy(env, napi_uint32_array, out, n, sizeof(uint32_t));
  if (!named || !l) { free(zero); free(ids); return l; }
  napi_value z = typed_copy(env, napi_uint8_array, zero, n, 1), d, res;
  if (!z) { free(ids); return NULL; }
  if (!(d = typed_copy(env, napi_uint8_array, ids, n * 32, 1))) return NULL;
  CHECK(napi_create_array_with_length(env, 3, &res));
  CHECK(napi_set_element(env, res, 0, l));
  CHECK(napi_set_element(env, res, 1, z));
  CHECK(napi_set_element(env, res, 2, d));
  return res;
}

static napi_value chunk(napi_env env, napi_callback_info info) { return cut_call(env, info, false); }
static napi_value chunk_named(napi_env env, napi_callback_info info) { return cut_call(env, info, true); }

// hasId(data: Uint8Array, ids: Uint8Array, at) -> whether SHA-256(data) equals ids[at, at + 32):
// restore and verify re-hash every chunk they read without a hash object or result per chunk.
static napi_value has_id(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type t0, t1; size_t n0, n1; void* d0; void* d1; napi_value ab; size_t off; uint32_t at;
  CHECK(napi_get_typedarray_info(env, argv[0], &t0, &n0, &d0, &ab, &off));
  CHECK(napi_get_typedarray_info(env, argv[1], &t1, &n1, &d1, &ab, &off));
  CHECK(napi_get_value_uint32(env, argv[2], &at));
  if ((size_t)at + 32 > n1) { napi_throw_range_error(env, NULL, "hasId: the id lies outside ids"); return NULL; }
  uint8_t md[32];
  SHA256((const uint8_t*)d0, n0, md);
  napi_value v;
  CHECK(napi_get_boolean(env, memcmp(md, (const uint8_t*)d1 + at, 32) == 0, &v));
  return v;
}

uint32_t sample_distinct(const uint8_t* b, size_t len) {
  // Marked without a test and counted after: on random data a "seen yet?" branch is a coin toss,
  // and its mispredictions cost five times the loop.
  uint8_t seen[256] = { 0 };
  size_t step = len / 512 ? len / 512 : 1;
  for (size_t i = 0; i < len; i += step) seen[b[i]] = 1;
  uint32_t distinct = 0;
  for (int v = 0; v < 256; v++) distinct += seen[v];
  return distinct;
}

// sampledDistinct(buf: Uint8Array) -> how many distinct values 512 evenly spaced bytes take (the
// worker's test for data that looks random: zstd would spend time on it to gain nothing).
static napi_value sampled_distinct(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type type; size_t len; void* data; napi_value ab; size_t off;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &off));
  napi_value v;
  CHECK(napi_create_uint32(env, sample_distinct((const uint8_t*)data, len), &v));
  return v;
}

// nameChunks(buf: Uint8Array, starts: Float64Array, lengths: Uint32Array, ids: Uint8Array, zero: Uint8Array)
// names the chunks buf[starts[i], starts[i] + lengths[i]) into ids (32 bytes each) and zero (1: all zeros, no id).
static napi_value name_chunks(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type t[5]; size_t n[5]; void* d[5]; napi_value ab; size_t off;
  for (int i = 0; i < 5; i++) CHECK(napi_get_typedarray_info(env, argv[i], &t[i], &n[i], &d[i], &ab, &off));
  if (t[0] != napi_uint8_array || t[1] != napi_float64_array || t[2] != napi_uint32_array || t[3] != napi_uint8_array || t[4] != napi_uint8_array || n[2] != n[1] || n[3] < n[1] * 32 || n[4] < n[1]) {
    napi_throw_type_error(env, NULL, "nameChunks(buf: Uint8Array, starts: Float64Array, lengths: Uint32Array, ids: Uint8Array, zero: Uint8Array)");
    return NULL;
  }
  const uint8_t* buf = (const uint8_t*)d[0];
  const double* starts = (const double*)d[1];
  const uint32_t* lengths = (const uint32_t*)d[2];
  for (size_t i = 0; i < n[1]; i++) {
    if (starts[i] < 0 || (size_t)starts[i] + lengths[i] > n[0]) { napi_throw_range_error(env, NULL, "nameChunks: a chunk lies outside the buffer"); return NULL; }
    ((uint8_t*)d[4])[i] = (uint8_t)name_one(buf + (size_t)starts[i], lengths[i], (uint8_t*)d[3] + i * 32);
  }
  return NULL;
}

// dataExtents(fd, size) -> Float64Array [offset, length, ...] of the file's data (SEEK_DATA /
// SEEK_HOLE), or null when the file system cannot tell (then everything counts as data).
static napi_value data_extents(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd; double dsize;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_double(env, argv[1], &dsize));
  off_t size = (off_t)dsize;
  size_t cap = 64, n = 0;
  double* out = (double*)malloc(cap * sizeof(double));
  if (!out) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  off_t pos = 0;
  while (pos < size) {
    off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;
      free(out);
      napi_value nul; CHECK(napi_get_null(env, &nul)); return nul;
    }
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    if (n + 2 > cap) {
      cap *= 2;
      double* grown = (double*)realloc(out, cap * sizeof(double));
      if (!grown) { free(out); napi_throw_error(env, NULL, "out of memory"); return NULL; }
      out = grown;
    }
    out[n++] = (double)data; out[n++] = (double)(hole - data);
    pos = hole;
  }
  return typed_copy(env, napi_float64_array, out, n, sizeof(double));
}

// ---------------------------------------------------------------------------------- direct I/O
// directWrite(fd, buffers: Uint8Array[], count, position) -> Promise<number>
// Copies the first `count` bytes of `buffers` into a 4096-aligned buffer, pads it with zeros to a
// multiple of 4096 and writes it at `position` (a multiple of 4096) on libuv's thread pool: the
// write needs an O_DIRECT descriptor's alignment, and bypasses the page cache (on these machines a
// buffered write costs the writer's CPU ~2.4 s per GB in the kernel; a direct one ~0.2 s). When the
// first buffer alone holds the `count` bytes, starts at a 4096-aligned address and `count` is a
// multiple of 4096, it is written as it is: no copy (see alignmentOf).
#define DIRECT_ALIGN 4096

// A huge page (x86-64's PMD size).
#define HUGE_PAGE ((size_t)2 << 20)

// `len` bytes (a multiple of HUGE_PAGE) of fresh memory at a HUGE_PAGE boundary, which the kernel
// is asked to back with huge pages (released with munmap). A direct write from memory in 4 KiB pages
// is one segment per page, and the virtual disk takes at most 254 segments a request: a 4 MiB write
// went out as 4–5 requests of ~1 MiB. From huge pages it is one request, and the device here wrote
// 1.75–1.88 GB/s so against 1.35–1.50 GB/s (4 MiB writes, 1 to 8 threads, 4.8 GB each).
static uint8_t* huge_alloc(size_t len) {
  uint8_t* m = (uint8_t*)mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  uint8_t* b = (uint8_t*)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  // Only the aligned part is kept (the tail is never empty: b < m + HUGE_PAGE).
  if (b > m) munmap(m, (size_t)(b - m));
  munmap(b + len, (size_t)(m + HUGE_PAGE - b));
  madvise(b, len, MADV_HUGEPAGE);
  return b;
}

// Aligned staging buffers, reused: a fresh multi-megabyte allocation per write is mapped anew by
// the C library, and faulting and zeroing its pages cost more than the copy itself.
#define STAGING_SLOTS 4
#define STAGING_MIN ((size_t)12 << 20)
static pthread_mutex_t staging_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t* staging_buf[STAGING_SLOTS];
static size_t staging_cap[STAGING_SLOTS];

static uint8_t* staging_take(size_t len, size_t* cap) {
  pthread_mutex_lock(&staging_lock);
  for (int i = 0; i < STAGING_SLOTS; i++) {
    if (staging_buf[i] && staging_cap[i] >= len) {
      uint8_t* b = staging_buf[i];
      *cap = staging_cap[i];
      staging_buf[i] = NULL;
      pthread_mutex_unlock(&staging_lock);
      return b;
    }
  }
  pthread_mutex_unlock(&staging_lock);
  // At least STAGING_MIN, so any later write (a pack's slab of records, a restore's flush) fits it
  // and no slot is swapped for a bigger one mid-run: every new one is faulted in anew.
  size_t c = (len + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
  if (c < STAGING_MIN) c = STAGING_MIN;
  uint8_t* b = huge_alloc(c);
  if (b) *cap = c;
  return b;
}

static void staging_give(uint8_t* b, size_t cap) {
  if (!b) return;
  pthread_mutex_lock(&staging_lock);
  int smallest = -1;
  for (int i = 0; i < STAGING_SLOTS; i++) {
    if (!staging_buf[i]) { staging_buf[i] = b; staging_cap[i] = cap; pthread_mutex_unlock(&staging_lock); return; }
    if (smallest < 0 || staging_cap[i] < staging_cap[smallest]) smallest = i;
  }
  // Full: keep the bigger buffers.
  uint8_t* drop = b;
  size_t drop_cap = cap;
  if (staging_cap[smallest] < cap) {
    drop = staging_buf[smallest]; drop_cap = staging_cap[smallest];
    staging_buf[smallest] = b; staging_cap[smallest] = cap;
  }
  pthread_mutex_unlock(&staging_lock);
  munmap(drop, drop_cap);
}

// Queues `execute` on libuv's thread pool and `complete` after it, for a promise it returns.
static napi_value queue_work(napi_env env, const char* what, napi_async_execute_callback execute, napi_async_complete_callback complete, void* data, napi_deferred* deferred, napi_async_work* work) {
  napi_value promise, name;
  CHECK(napi_create_promise(env, deferred, &promise));
  CHECK(napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, data, work));
  CHECK(napi_queue_async_work(env, *work));
  return promise;
}

// Rejects an I/O promise: "<what> of <len> bytes at <pos> failed: <errno text>".
static void reject_io(napi_env env, napi_deferred deferred, const char* what, size_t len, off_t pos, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s of %zu bytes at %lld failed: %s", what, len, (long long)pos, strerror(err));
  napi_value m, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_reject_deferred(env, deferred, e);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  uint32_t nparts;
  const uint8_t** src;
  size_t* srclen;
  napi_ref* refs;
  uint8_t* buf;
  size_t cap;
  size_t count;
  size_t len;
  off_t pos;
  int err;
} direct_write_t;

static void direct_write_free(napi_env env, direct_write_t* w) {
  for (uint32_t i = 0; i < w->nparts; i++) if (w->refs[i]) napi_delete_reference(env, w->refs[i]);
  free(w->refs); free(w->src); free(w->srclen); staging_give(w->buf, w->cap); free(w);
}

// On the thread pool: the copy into aligned memory (page faults included) and the write, off the
// JavaScript thread. The source buffers are held by references until the write completes.
static void direct_write_execute(napi_env env, void* data) {
  (void)env;
  direct_write_t* w = (direct_write_t*)data;
  const uint8_t* from;
  if (w->nparts && w->srclen[0] >= w->count && w->count == w->len && ((uintptr_t)w->src[0] & (DIRECT_ALIGN - 1)) == 0) {
    from = w->src[0];
  } else {
    w->buf = staging_take(w->len, &w->cap);
    if (!w->buf) { w->err = ENOMEM; return; }
    size_t o = 0;
    for (uint32_t i = 0; i < w->nparts && o < w->count; i++) {
      size_t k = w->srclen[i] < w->count - o ? w->srclen[i] : w->count - o;
      memcpy(w->buf + o, w->src[i], k);
      o += k;
    }
    memset(w->buf + w->count, 0, w->len - w->count);
    from = w->buf;
  }
  size_t done = 0;
  while (done < w->len) {
    ssize_t n = pwrite(w->fd, from + done, w->len - done, w->pos + (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      w->err = errno;
      return;
    }
    if (n == 0) { w->err = EIO; return; }
    done += (size_t)n;
  }
}

static void direct_write_complete(napi_env env, napi_status status, void* data) {
  direct_write_t* w = (direct_write_t*)data;
  if (status == napi_ok && w->err == 0) {
    napi_value v;
    napi_create_double(env, (double)w->len, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else reject_io(env, w->deferred, "direct write", w->len, w->pos, w->err ? w->err : EIO);
  napi_delete_async_work(env, w->work);
  direct_write_free(env, w);
}

static napi_value direct_write(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd; double dcount, dpos; uint32_t nbufs;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_array_length(env, argv[1], &nbufs));
  CHECK(napi_get_value_double(env, argv[2], &dcount));
  CHECK(napi_get_value_double(env, argv[3], &dpos));
  off_t pos = (off_t)dpos;
  if (pos % DIRECT_ALIGN != 0) { napi_throw_range_error(env, NULL, "directWrite: position must be a multiple of 4096"); return NULL; }
  direct_write_t* w = (direct_write_t*)calloc(1, sizeof(direct_write_t));
  if (!w) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  w->nparts = nbufs;
  w->src = (const uint8_t**)calloc(nbufs ? nbufs : 1, sizeof(uint8_t*));
  w->srclen = (size_t*)calloc(nbufs ? nbufs : 1, sizeof(size_t));
  w->refs = (napi_ref*)calloc(nbufs ? nbufs : 1, sizeof(napi_ref));
  if (!w->src || !w->srclen || !w->refs) { direct_write_free(env, w); napi_throw_error(env, NULL, "out of memory"); return NULL; }
  size_t have = 0;
  for (uint32_t i = 0; i < nbufs; i++) {
    napi_value el; napi_typedarray_type type; size_t n; void* d; napi_value ab; size_t off;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok || napi_get_typedarray_info(env, el, &type, &n, &d, &ab, &off) != napi_ok || napi_create_reference(env, el, 1, &w->refs[i]) != napi_ok) {
      direct_write_free(env, w);
      napi_throw_type_error(env, NULL, "directWrite: buffers must be Uint8Arrays");
      return NULL;
    }
    w->src[i] = (const uint8_t*)d; w->srclen[i] = n; have += n;
  }
  w->count = (size_t)dcount;
  if (have < w->count) { direct_write_free(env, w); napi_throw_range_error(env, NULL, "directWrite: the buffers hold fewer bytes than count"); return NULL; }
  w->len = (w->count + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
  w->fd = fd; w->pos = pos;
  return queue_work(env, "quiesce.directWrite", direct_write_execute, direct_write_complete, w, &w->deferred, &w->work);
}

// A buffer argument's memory: an ArrayBuffer's data and byte length, or a typed array's data, its
// element count and its type (*type is napi_uint8_array for an ArrayBuffer). False for anything else.
static bool memory_arg(napi_env env, napi_value v, void** d, size_t* n, napi_typedarray_type* type) {
  bool is_ab = false, is_ta = false;
  napi_is_arraybuffer(env, v, &is_ab);
  if (is_ab) {
    *type = napi_uint8_array;
    return napi_get_arraybuffer_info(env, v, d, n) == napi_ok;
  }
  napi_value ab;
  size_t off;
  return napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta && napi_get_typedarray_info(env, v, type, n, d, &ab, &off) == napi_ok;
}

// alignmentOf(buffer: ArrayBuffer | Uint8Array) -> the address of its first byte modulo 4096. An
// ArrayBuffer's memory never moves (nor when it is transferred to a worker and back), so bytes
// laid at a chosen offset in it have a known alignment: a restore puts each run of chunks where its
// address and its place in the image agree modulo 4096, and most of it is written without a copy.
static napi_value alignment_of(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* d = NULL;
  size_t n;
  napi_typedarray_type t;
  if (argc < 1 || !memory_arg(env, argv[0], &d, &n, &t)) { napi_throw_type_error(env, NULL, "alignmentOf(buffer: ArrayBuffer | TypedArray)"); return NULL; }
  napi_value v;
  CHECK(napi_create_uint32(env, (uint32_t)((uintptr_t)d & (DIRECT_ALIGN - 1)), &v));
  return v;
}

// hugePages(buffer: ArrayBuffer | Uint8Array) -> the offset in it of its first 2 MiB boundary,
// from where the kernel is asked to back its whole 2 MiB pages with huge pages (before their
// first touch: a fresh ArrayBuffer's pages are). Bytes laid there are written by directWrite in
// requests of up to the device's limit instead of ~1 MiB (see huge_alloc). The byte length when it
// holds no whole huge page.
static napi_value huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* d = NULL;
  size_t len = 0;
  napi_typedarray_type t;
  if (argc < 1 || !memory_arg(env, argv[0], &d, &len, &t) || t != napi_uint8_array) { napi_throw_type_error(env, NULL, "hugePages(buffer: ArrayBuffer | Uint8Array)"); return NULL; }
  uintptr_t from = ((uintptr_t)d + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t to = ((uintptr_t)d + len) & ~(uintptr_t)(HUGE_PAGE - 1);
  size_t at = len;
  if (to > from) {
    madvise((void*)from, to - from, MADV_HUGEPAGE);
    at = from - (uintptr_t)d;
  }
  napi_value v;
  CHECK(napi_create_double(env, (double)at, &v));
  return v;
}

// tableStarts(entries: Uint8Array, n, entryBytes) -> Float64Array of n + 1 (where each entry starts on
// the disk; the last is the disk's size), or the index of the first entry whose kind (the byte after
// its u32 length) is neither 0 nor 1, as a number. A restore point's tables are scanned so when it is
// opened: hundreds of thousands of entries, a loop that kept the JavaScript thread ~10 ms per backup.
static napi_value table_starts(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t len;
  uint32_t n, eb;
  const uint8_t* d = argc >= 3 ? typed_arg(env, argv[0], napi_uint8_array, &len) : NULL;
  if (!d || napi_get_value_uint32(env, argv[1], &n) != napi_ok || napi_get_value_uint32(env, argv[2], &eb) != napi_ok || eb < 5 || (uint64_t)n * eb > len) {
    napi_throw_type_error(env, NULL, "tableStarts(entries: Uint8Array, n, entryBytes): n entries must fit");
    return NULL;
  }
  napi_value out_ab, out;
  void* od;
  CHECK(napi_create_arraybuffer(env, ((size_t)n + 1) * sizeof(double), &od, &out_ab));
  double* starts = (double*)od;
  const uint8_t* e = d;
  uint64_t pos = 0;
  for (uint32_t k = 0; k < n; k++, e += eb) {
    if (e[4] > 1) {
      napi_value v;
      CHECK(napi_create_uint32(env, k, &v));
      return v;
    }
    starts[k] = (double)pos;
    pos += (uint64_t)e[0] | (uint64_t)e[1] << 8 | (uint64_t)e[2] << 16 | (uint64_t)e[3] << 24;
  }
  starts[n] = (double)pos;
  CHECK(napi_create_typedarray(env, napi_float64_array, (size_t)n + 1, out_ab, 0, &out));
  return out;
}

// ---------------------------------------------------------------------------------- mapped reads
// mapRange(fd, position, length) -> Promise<ArrayBuffer>
// The file's bytes [position, position + length) as an ArrayBuffer over a private, read-only
// mapping (writing to it faults: it is for chunking, hashing and compressing only), its
// pages populated on libuv's thread pool (a cold range is read there; a cached one is mapped, not
// copied: a read() copies every byte once more). position is a multiple of the page size and the
// range must lie within the file (the caller checks its size: a mapping past the end faults).
// unmapRange(arrayBuffer) detaches it (views of it become empty) and unmaps it at once; a range
// never released is unmapped when the ArrayBuffer is collected.
typedef struct mapping {
  void* addr;
  size_t len;
  int live;
  struct mapping* next;
} mapping_t;

static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping_t* mappings = NULL;

static void mapping_finalize(napi_env env, void* data, void* hint) {
  (void)env; (void)data;
  mapping_t* m = (mapping_t*)hint;
  pthread_mutex_lock(&mappings_lock);
  if (m->live) munmap(m->addr, m->len);
  for (mapping_t** p = &mappings; *p; p = &(*p)->next) if (*p == m) { *p = m->next; break; }
  pthread_mutex_unlock(&mappings_lock);
  free(m);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  off_t pos;
  size_t len;
  void* addr;
  int err;
} map_req_t;

static void map_execute(napi_env env, void* data) {
  (void)env;
  map_req_t* r = (map_req_t*)data;
  void* a = mmap(NULL, r->len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, r->fd, r->pos);
  if (a == MAP_FAILED) r->err = errno;
  else r->addr = a;
}

static void map_complete(napi_env env, napi_status status, void* data) {
  map_req_t* r = (map_req_t*)data;
  napi_value ab = NULL;
  mapping_t* m = NULL;
  if (status == napi_ok && r->err == 0) {
    m = (mapping_t*)calloc(1, sizeof(mapping_t));
    if (m) {
      m->addr = r->addr; m->len = r->len; m->live = 1;
      pthread_mutex_lock(&mappings_lock);
      m->next = mappings; mappings = m;
      pthread_mutex_unlock(&mappings_lock);
      if (napi_create_external_arraybuffer(env, r->addr, r->len, mapping_finalize, m, &ab) != napi_ok) {
        mapping_finalize(env, r->addr, m);
        ab = NULL;
      }
    } else munmap(r->addr, r->len);
  }
  if (ab) napi_resolve_deferred(env, r->deferred, ab);
  else reject_io(env, r->deferred, "mapping", r->len, r->pos, r->err ? r->err : ENOMEM);
  napi_delete_async_work(env, r->work);
  free(r);
}

static napi_value map_range(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd; double dpos, dlen;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_double(env, argv[1], &dpos));
  CHECK(napi_get_value_double(env, argv[2], &dlen));
  long page = sysconf(_SC_PAGESIZE);
  if (dpos < 0 || dlen <= 0 || (long long)dpos % page != 0) { napi_throw_range_error(env, NULL, "mapRange: position must be a multiple of the page size and length positive"); return NULL; }
  map_req_t* r = (map_req_t*)calloc(1, sizeof(map_req_t));
  if (!r) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  r->fd = fd; r->pos = (off_t)dpos; r->len = (size_t)dlen;
  return queue_work(env, "quiesce.mapRange", map_execute, map_complete, r, &r->deferred, &r->work);
}

static napi_value unmap_range(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* data; size_t len;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &data, &len));
  if (!data) return NULL; // already detached
  // Unmapped first, then detached: no JavaScript runs in between, and detaching may release the
  // backing store (and free the record) at once.
  pthread_mutex_lock(&mappings_lock);
  mapping_t* m = mappings;
  while (m && !(m->live && m->addr == data)) m = m->next;
  if (m) { munmap(m->addr, m->len); m->live = 0; }
  pthread_mutex_unlock(&mappings_lock);
  if (!m) { napi_throw_type_error(env, NULL, "unmapRange: not an ArrayBuffer from mapRange"); return NULL; }
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  return NULL;
}

static uint32_t le32(const uint8_t* p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

// The chunk index's open-addressing table (chunk-index.ts), probed as ChunkIndex.find does: the
// slot of `id` (32 bytes) — its entry (>= 0) or the empty slot where it would go (the entry -1).
typedef struct { int32_t entry; size_t slot; } probe_t;
static probe_t index_probe(const uint8_t* ids, const uint32_t* head, const uint8_t* live, const int32_t* slots, size_t nslots, const uint8_t* id) {
  size_t mask = nslots - 1;
  uint32_t h = le32(id);
  for (size_t s = h & mask;; s = (s + 1) & mask) {
    int32_t k = slots[s];
    if (k < 0) return (probe_t){ -1, s };
    if (head[k] == h && live[k] && memcmp(ids + (size_t)k * 32 + 4, id + 4, 28) == 0) return (probe_t){ k, s };
  }
}

// indexInsert(src, at, stride, n, ids, head, packNo, offset, storedLen, rawLen, codec, live, slots,
//             count, pack) -> entries added.
// The n pack index entries at src[at + i * stride] ([id 32][offset u64][stored u32][raw u32][codec u8])
// go into the chunk index's open-addressing table, exactly as ChunkIndex.findOrAdd and loadIdx do
// in JavaScript: a known id takes this pack's location, a new one is appended at `count`. The
// caller has made room (capacity for count + n entries, slots at most half full after).
static napi_value index_insert(napi_env env, napi_callback_info info) {
  size_t argc = 15; napi_value argv[15];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 15) { napi_throw_type_error(env, NULL, "indexInsert takes 15 arguments"); return NULL; }
  size_t nsrc, nids, nhead, npack, noff, nstored, nraw, ncodec, nlive, nslots;
  const uint8_t* src = typed_arg(env, argv[0], napi_uint8_array, &nsrc);
  uint8_t* ids = typed_arg(env, argv[4], napi_uint8_array, &nids);
  uint32_t* head = typed_arg(env, argv[5], napi_uint32_array, &nhead);
  uint32_t* pack_no = typed_arg(env, argv[6], napi_uint32_array, &npack);
  double* offset = typed_arg(env, argv[7], napi_float64_array, &noff);
  uint32_t* stored = typed_arg(env, argv[8], napi_uint32_array, &nstored);
  uint32_t* raw = typed_arg(env, argv[9], napi_uint32_array, &nraw);
  uint8_t* codec = typed_arg(env, argv[10], napi_uint8_array, &ncodec);
  uint8_t* live = typed_arg(env, argv[11], napi_uint8_array, &nlive);
  int32_t* slots = typed_arg(env, argv[12], napi_int32_array, &nslots);
  uint32_t at, stride, n, count, pack;
  if (!src || !ids || !head || !pack_no || !offset || !stored || !raw || !codec || !live || !slots ||
      napi_get_value_uint32(env, argv[1], &at) != napi_ok || napi_get_value_uint32(env, argv[2], &stride) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &n) != napi_ok || napi_get_value_uint32(env, argv[13], &count) != napi_ok ||
      napi_get_value_uint32(env, argv[14], &pack) != napi_ok) {
    napi_throw_type_error(env, NULL, "indexInsert(src: Uint8Array, at, stride, n, ids: Uint8Array, head, packNo: Uint32Array, offset: Float64Array, storedLen, rawLen: Uint32Array, codec, live: Uint8Array, slots: Int32Array, count, pack)");
    return NULL;
  }
  size_t cap = nhead;
  bool fits = stride >= 49 && (size_t)at + (size_t)n * stride <= nsrc && nids >= cap * 32 && npack >= cap && noff >= cap && nstored >= cap &&
              nraw >= cap && ncodec >= cap && nlive >= cap && (size_t)count + n <= cap && nslots > 0 && (nslots & (nslots - 1)) == 0 &&
              ((size_t)count + n) * 2 <= nslots;
  if (!fits) { napi_throw_range_error(env, NULL, "indexInsert: the table has no room for these entries"); return NULL; }
  uint32_t added = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* e = src + at + (size_t)i * stride;
    probe_t p = index_probe(ids, head, live, slots, nslots, e);
    int32_t k = p.entry;
    if (k < 0) {
      k = (int32_t)(count + added++);
      memcpy(ids + (size_t)k * 32, e, 32);
      head[k] = le32(e);
      live[k] = 1;
      slots[p.slot] = k;
    }
    const uint8_t* f = e + 32;
    pack_no[k] = pack;
    offset[k] = (double)le32(f) + (double)le32(f + 4) * 4294967296.0;
    stored[k] = le32(f + 8);
    raw[k] = le32(f + 12);
    codec[k] = f[16];
  }
  napi_value v;
  CHECK(napi_create_uint32(env, added, &v));
  return v;
}

// indexClaim(ids: Uint8Array, zero: Uint8Array, from, to, tIds: Uint8Array, head: Uint32Array,
//            packNo: Uint32Array, live: Uint8Array, slots: Int32Array, count, flags: Uint8Array) -> added
// Claims the data chunks from..to of a named batch (ids 32 bytes each; zero chunks are skipped) in
// the chunk index's table, as ChunkIndex.claim does in JavaScript: an absent id is appended at
// `count + added` as pending (flags 1), a pending one is another backup's claim (2), a durable one
// is there (0). The caller has made room for to - from more entries.
#define INDEX_PENDING 0xffffffffu
static napi_value index_claim(napi_env env, napi_callback_info info) {
  size_t argc = 11; napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) { napi_throw_type_error(env, NULL, "indexClaim takes 11 arguments"); return NULL; }
  size_t nsrc, nzero, nids, nhead, npack, nlive, nslots, nflags;
  const uint8_t* src = typed_arg(env, argv[0], napi_uint8_array, &nsrc);
  const uint8_t* zero = typed_arg(env, argv[1], napi_uint8_array, &nzero);
  uint8_t* ids = typed_arg(env, argv[4], napi_uint8_array, &nids);
  uint32_t* head = typed_arg(env, argv[5], napi_uint32_array, &nhead);
  uint32_t* pack_no = typed_arg(env, argv[6], napi_uint32_array, &npack);
  uint8_t* live = typed_arg(env, argv[7], napi_uint8_array, &nlive);
  int32_t* slots = typed_arg(env, argv[8], napi_int32_array, &nslots);
  uint8_t* flags = typed_arg(env, argv[10], napi_uint8_array, &nflags);
  uint32_t from, to, count;
  if (!src || !zero || !ids || !head || !pack_no || !live || !slots || !flags || napi_get_value_uint32(env, argv[2], &from) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &to) != napi_ok || napi_get_value_uint32(env, argv[9], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "indexClaim(ids, zero: Uint8Array, from, to, tIds: Uint8Array, head, packNo: Uint32Array, live: Uint8Array, slots: Int32Array, count, flags: Uint8Array)");
    return NULL;
  }
  size_t cap = nhead, n = to >= from ? to - from : 0;
  bool fits = to >= from && (size_t)to * 32 <= nsrc && to <= nzero && nflags >= n && nids >= cap * 32 && npack >= cap && nlive >= cap &&
              (size_t)count + n <= cap && nslots > 0 && (nslots & (nslots - 1)) == 0 && ((size_t)count + n) * 2 <= nslots;
  if (!fits) { napi_throw_range_error(env, NULL, "indexClaim: the table has no room for these chunks"); return NULL; }
  uint32_t added = 0;
  for (uint32_t i = from; i < to; i++) {
    uint8_t* flag = flags + (i - from);
    *flag = 0;
    if (zero[i]) continue;
    const uint8_t* e = src + (size_t)i * 32;
    probe_t p = index_probe(ids, head, live, slots, nslots, e);
    if (p.entry >= 0) {
      *flag = pack_no[p.entry] == INDEX_PENDING ? 2 : 0;
      continue;
    }
    int32_t k = (int32_t)(count + added++);
    memcpy(ids + (size_t)k * 32, e, 32);
    head[k] = le32(e);
    live[k] = 1;
    pack_no[k] = INDEX_PENDING;
    slots[p.slot] = k;
    *flag = 1;
  }
  napi_value v;
  CHECK(napi_create_uint32(env, added, &v));
  return v;
}

// indexFirstNotDurable(ids: Uint8Array, picks: Uint32Array, tIds: Uint8Array, head, packNo: Uint32Array,
//                      live: Uint8Array, slots: Int32Array) -> the first k in picks whose id (ids[32k, 32k + 32))
// is absent from the chunk index or still pending, or -1: a commit's check that every chunk it
// counted on is durable, in one pass.
static napi_value index_first_not_durable(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t nsrc, npicks, nids, nhead, npack, nlive, nslots;
  const uint8_t* src = argc == 7 ? typed_arg(env, argv[0], napi_uint8_array, &nsrc) : NULL;
  const uint32_t* picks = argc == 7 ? typed_arg(env, argv[1], napi_uint32_array, &npicks) : NULL;
  const uint8_t* ids = argc == 7 ? typed_arg(env, argv[2], napi_uint8_array, &nids) : NULL;
  const uint32_t* head = argc == 7 ? typed_arg(env, argv[3], napi_uint32_array, &nhead) : NULL;
  const uint32_t* pack_no = argc == 7 ? typed_arg(env, argv[4], napi_uint32_array, &npack) : NULL;
  const uint8_t* live = argc == 7 ? typed_arg(env, argv[5], napi_uint8_array, &nlive) : NULL;
  const int32_t* slots = argc == 7 ? typed_arg(env, argv[6], napi_int32_array, &nslots) : NULL;
  if (!src || !picks || !ids || !head || !pack_no || !live || !slots || nslots == 0 || (nslots & (nslots - 1)) != 0 || npack < nhead || nlive < nhead || nids < nhead * 32) {
    napi_throw_type_error(env, NULL, "indexFirstNotDurable(ids: Uint8Array, picks: Uint32Array, tIds: Uint8Array, head, packNo: Uint32Array, live: Uint8Array, slots: Int32Array)");
    return NULL;
  }
  int64_t bad = -1;
  for (size_t i = 0; i < npicks && bad < 0; i++) {
    if ((size_t)picks[i] * 32 + 32 > nsrc) { napi_throw_range_error(env, NULL, "indexFirstNotDurable: a pick lies outside ids"); return NULL; }
    int32_t k = index_probe(ids, head, live, slots, nslots, src + (size_t)picks[i] * 32).entry;
    if (k < 0 || pack_no[k] == INDEX_PENDING) bad = (int64_t)picks[i];
  }
  napi_value v;
  CHECK(napi_create_double(env, (double)bad, &v));
  return v;
}

// indexLocate(table: Uint8Array, n, tIds: Uint8Array, head, packNo: Uint32Array, offset: Float64Array,
//             storedLen, rawLen: Uint32Array, codec, live: Uint8Array, slots: Int32Array,
//             outPack: Uint32Array, outOffset: Float64Array, outStored, outRaw: Uint32Array, outCodec: Uint8Array)
//   -> the first entry with an id that has no durable location, or -1
// Where every chunk of a manifest's disk table (n entries of [length u32][kind u8][id 32 B]) is
// stored, found in the chunk index in one pass: a restore needs no object per chunk. Zero entries
// get pack 0xffffffff.
#define TABLE_ENTRY 37
static napi_value index_locate(napi_env env, napi_callback_info info) {
  size_t argc = 16; napi_value argv[16];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 16) { napi_throw_type_error(env, NULL, "indexLocate takes 16 arguments"); return NULL; }
  size_t nt, nids, nhead, npack, noff, nst, nraw, ncod, nlive, nslots, o1, o2, o3, o4, o5;
  const uint8_t* table = typed_arg(env, argv[0], napi_uint8_array, &nt);
  uint32_t n;
  const uint8_t* ids = typed_arg(env, argv[2], napi_uint8_array, &nids);
  const uint32_t* head = typed_arg(env, argv[3], napi_uint32_array, &nhead);
  const uint32_t* pack_no = typed_arg(env, argv[4], napi_uint32_array, &npack);
  const double* offset = typed_arg(env, argv[5], napi_float64_array, &noff);
  const uint32_t* stored = typed_arg(env, argv[6], napi_uint32_array, &nst);
  const uint32_t* raw = typed_arg(env, argv[7], napi_uint32_array, &nraw);
  const uint8_t* codec = typed_arg(env, argv[8], napi_uint8_array, &ncod);
  const uint8_t* live = typed_arg(env, argv[9], napi_uint8_array, &nlive);
  const int32_t* slots = typed_arg(env, argv[10], napi_int32_array, &nslots);
  uint32_t* out_pack = typed_arg(env, argv[11], napi_uint32_array, &o1);
  double* out_off = typed_arg(env, argv[12], napi_float64_array, &o2);
  uint32_t* out_st = typed_arg(env, argv[13], napi_uint32_array, &o3);
  uint32_t* out_raw = typed_arg(env, argv[14], napi_uint32_array, &o4);
  uint8_t* out_cod = typed_arg(env, argv[15], napi_uint8_array, &o5);
  if (!table || !ids || !head || !pack_no || !offset || !stored || !raw || !codec || !live || !slots || !out_pack || !out_off || !out_st || !out_raw || !out_cod ||
      napi_get_value_uint32(env, argv[1], &n) != napi_ok || (size_t)n * TABLE_ENTRY > nt || o1 < n || o2 < n || o3 < n || o4 < n || o5 < n || nids < nhead * 32 ||
      npack < nhead || noff < nhead || nst < nhead || nraw < nhead || ncod < nhead || nlive < nhead || (nslots & (nslots - 1)) != 0) {
    napi_throw_type_error(env, NULL, "indexLocate: bad arguments");
    return NULL;
  }
  int64_t missing = -1;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* e = table + (size_t)i * TABLE_ENTRY;
    out_pack[i] = INDEX_PENDING;
    out_off[i] = 0;
    out_st[i] = out_raw[i] = 0;
    out_cod[i] = 0;
    if (e[4] != 1) continue;
    int32_t found = nslots ? index_probe(ids, head, live, slots, nslots, e + 5).entry : -1;
    if (found < 0 || pack_no[found] == INDEX_PENDING) {
      if (missing < 0) missing = i;
      continue;
    }
    out_pack[i] = pack_no[found];
    out_off[i] = offset[found];
    out_st[i] = stored[found];
    out_raw[i] = raw[found];
    out_cod[i] = codec[found];
  }
  napi_value v;
  CHECK(napi_create_double(env, (double)missing, &v));
  return v;
}

// ---------------------------------------------------------------------------------- allocator
//
// shareMallocArenas(n): at most n malloc arenas for the whole process. Each thread otherwise gets
// its own, and memory one thread frees (V8's compiler zones, on its background threads) is not
// reused by another but faulted in fresh. Only threads that have not allocated yet are affected.
static napi_value share_malloc_arenas(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &n) != napi_ok || n == 0) {
    napi_throw_type_error(env, NULL, "shareMallocArenas(n) needs a count of at least 1");
    return NULL;
  }
  napi_value v;
  CHECK(napi_get_boolean(env, mallopt(M_ARENA_MAX, (int)n) == 1, &v));
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "setGear", NULL, set_gear, NULL, NULL, NULL, napi_default, NULL },
    { "chunk", NULL, chunk, NULL, NULL, NULL, napi_default, NULL },
    { "gearImpl", NULL, gear_impl_call, NULL, NULL, NULL, napi_default, NULL },
    { "chunkNamed", NULL, chunk_named, NULL, NULL, NULL, napi_default, NULL },
    { "nameChunks", NULL, name_chunks, NULL, NULL, NULL, napi_default, NULL },
    { "sampledDistinct", NULL, sampled_distinct, NULL, NULL, NULL, napi_default, NULL },
    { "hasId", NULL, has_id, NULL, NULL, NULL, napi_default, NULL },
    { "indexInsert", NULL, index_insert, NULL, NULL, NULL, napi_default, NULL },
    { "indexClaim", NULL, index_claim, NULL, NULL, NULL, napi_default, NULL },
    { "indexLocate", NULL, index_locate, NULL, NULL, NULL, napi_default, NULL },
    { "indexFirstNotDurable", NULL, index_first_not_durable, NULL, NULL, NULL, napi_default, NULL },
    { "dataExtents", NULL, data_extents, NULL, NULL, NULL, napi_default, NULL },
    { "directWrite", NULL, direct_write, NULL, NULL, NULL, napi_default, NULL },
    { "alignmentOf", NULL, alignment_of, NULL, NULL, NULL, napi_default, NULL },
    { "hugePages", NULL, huge_pages, NULL, NULL, NULL, napi_default, NULL },
    { "tableStarts", NULL, table_starts, NULL, NULL, NULL, napi_default, NULL },
    { "mapRange", NULL, map_range, NULL, NULL, NULL, napi_default, NULL },
    { "unmapRange", NULL, unmap_range, NULL, NULL, NULL, napi_default, NULL },
    { "shareMallocArenas", NULL, share_malloc_arenas, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  engine_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

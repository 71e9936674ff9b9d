// Multi-buffer SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104); see sha256-lanes.h.
//
// Chunk names are SHA-256 digests of many independent 8-64 KiB messages. SHA-NI caps one core at about
// 1.1 GB/s here, and that is its instructions' throughput, not one stream's latency (two interleaved streams
// were no faster). Sixteen messages side by side, one per 32-bit lane of a zmm register, hash with plain
// vector adds, rotates and ternary logic on both 512-bit ports: about twice that per core.
//
// How the lanes run: each lane walks its message's full blocks in place, then one or two padding blocks
// built in the lane's own buffer (then, for HMAC, the outer block), then takes the next message. Between
// lane events (a lane reaching the end of one of those stretches) every step is the same: load one block per
// lane, hash, advance each pointer by 64; idle lanes hash a zero block that nobody reads. Once every message
// has a lane, the lanes still busy are handed to the scalar compression when that is cheaper than running
// nearly empty 16-lane steps (see drain()); the last 64 messages are handed out longest first (pick()) so
// that the lanes empty at nearly the same time.
//
// Built with plain -O3: the AVX-512 and SHA-NI functions carry target attributes and run only when the CPU
// reports those features, checked once.
#include "sha256-lanes.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LANES_X86 1
#include <immintrin.h>
#include <cpuid.h>
#endif

// From the OpenSSL inside Node (its symbols are the process's), so no OpenSSL headers are needed: the
// fallback for plain SHA-256, as fast as one stream gets.
unsigned char* SHA256(const unsigned char* d, size_t n, unsigned char* md);

static const uint32_t K256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
static const uint32_t IV256[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// Best effort against key material outliving the call (the key block, the derived states); a volatile store
// is one the compiler may not drop.
static void wipe(void* p, size_t n) {
  volatile uint8_t* v = p;
  while (n--) *v++ = 0;
}

// ---- Dispatch ------------------------------------------------------------------------------------------
// Decided once and then only read; 0 means not yet decided. Concurrent first calls compute the same value.
enum { F_READY = 1, F_AVX512 = 2, F_SHANI = 4 };
static int g_flags;

static int cpu_flags(void) {
  int f = F_READY;
#ifdef LANES_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) f |= F_AVX512;
  unsigned a, b, c, d;
  if (__builtin_cpu_supports("sse4.1") && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29))) f |= F_SHANI;
#endif
  return f;
}

static int flags(void) {
  int f = __atomic_load_n(&g_flags, __ATOMIC_RELAXED);
  if (!f) {
    f = cpu_flags();
    __atomic_store_n(&g_flags, f, __ATOMIC_RELAXED);
  }
  return f;
}

int sha256_lanes_impl(void) { return flags() & F_AVX512 ? 1 : 0; }

void sha256_lanes_force(int impl) {
  int f = cpu_flags();
  if (impl >= 0 && (impl & 0xff) != 1) f &= ~F_AVX512;
  if (impl >= 0 && (impl & SHA256_LANES_NO_SHA_NI)) f &= ~F_SHANI;
  __atomic_store_n(&g_flags, f, __ATOMIC_RELAXED);
}

// ---- Scalar compression --------------------------------------------------------------------------------
// The fallback's HMAC and the lanes' drained tails need to continue from an arbitrary state, which
// OpenSSL's one-shot SHA256() cannot; these two compress whole blocks into st[8].

static void compress_portable(uint32_t st[8], const uint8_t* p, size_t nblocks) {
  for (; nblocks; nblocks--, p += 64) {
    uint32_t w[16]; // the schedule in a ring: w[t & 15] holds W[t - 16] until round t replaces it
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#pragma GCC unroll 64
    for (int t = 0; t < 64; t++) {
      if (t < 16) {
        w[t] = load_be32(p + 4 * t);
      } else {
        uint32_t x = w[(t - 15) & 15], y = w[(t - 2) & 15];
        w[t & 15] += (ror32(x, 7) ^ ror32(x, 18) ^ (x >> 3)) + w[(t - 7) & 15] + (ror32(y, 17) ^ ror32(y, 19) ^ (y >> 10));
      }
      // Ch and Maj in their 3-operation forms
      uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + (g ^ (e & (f ^ g))) + K256[t] + w[t & 15];
      uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) | (c & (a | b)));
      h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e; st[5] += f; st[6] += g; st[7] += h;
  }
}

#ifdef LANES_X86
// SHA-NI keeps the state as two registers, ABEF and CDGH (A in the top dword); sha256rnds2 does two
// rounds and returns the new ABEF, the old ABEF being the new CDGH, so each call alternates the roles.
__attribute__((target("sha,sse4.1"))) static void compress_shani(uint32_t st[8], const uint8_t* p, size_t nblocks) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i*)st), 0xB1);       // B A D C
  __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i*)(st + 4)), 0x1B); // H G F E
  __m128i s0 = _mm_alignr_epi8(abcd, efgh, 8);                                        // F E B A = ABEF
  __m128i s1 = _mm_blend_epi16(efgh, abcd, 0xF0);                                     // H G D C = CDGH
  for (; nblocks; nblocks--, p += 64) {
    __m128i s0_in = s0, s1_in = s1, w[4];
    for (int i = 0; i < 4; i++) w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)(p + 16 * i)), bswap);
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) {
      if (g >= 4) {
        // W[t..t+3] = msg2(msg1(W[t-16..], W[t-12..]) + W[t-7..t-4], W[t-4..t-1]) for t = 4g
        __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
        x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
        w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
      }
      __m128i wk = _mm_add_epi32(w[g & 3], _mm_loadu_si128((const __m128i*)(K256 + 4 * g)));
      s1 = _mm_sha256rnds2_epu32(s1, s0, wk);
      s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(wk, 0x0E));
    }
    s0 = _mm_add_epi32(s0, s0_in);
    s1 = _mm_add_epi32(s1, s1_in);
  }
  __m128i abef = _mm_shuffle_epi32(s0, 0x1B); // A B E F
  __m128i cdgh = _mm_shuffle_epi32(s1, 0xB1); // G H C D
  _mm_storeu_si128((__m128i*)st, _mm_blend_epi16(abef, cdgh, 0xF0));
  _mm_storeu_si128((__m128i*)(st + 4), _mm_alignr_epi8(cdgh, abef, 8));
}
#endif

static void compress_blocks(uint32_t st[8], const uint8_t* p, size_t nblocks, int shani) {
  if (!nblocks) return;
#ifdef LANES_X86
  if (shani) { compress_shani(st, p, nblocks); return; }
#endif
  (void)shani;
  compress_portable(st, p, nblocks);
}

// ---- Messages, padding, HMAC ---------------------------------------------------------------------------

// What every message of a call starts from and ends with.
typedef struct {
  uint32_t init[8];  // the IV, or HMAC's inner state after key ^ ipad
  uint32_t outer[8]; // HMAC's outer state after key ^ opad
  uint64_t prefix;   // bytes already absorbed into init (64 for HMAC), counted in the padded length
  int hmac;
  int shani;         // scalar compression may use SHA-NI
} job_t;

// The final block(s) of a message whose last rem (< 64) bytes are at p and whose hashed length, prefix
// included, is total bytes: the bytes, 0x80, zeros, the bit length big-endian. Returns 1 or 2 blocks.
static size_t pad_blocks(uint8_t buf[128], const uint8_t* p, size_t rem, uint64_t total) {
  size_t nb = rem < 56 ? 1 : 2;
  if (rem) memcpy(buf, p, rem);
  buf[rem] = 0x80;
  memset(buf + rem + 1, 0, nb * 64 - 8 - rem - 1);
  uint64_t bits = total << 3;
  for (size_t i = 0; i < 8; i++) buf[nb * 64 - 1 - i] = (uint8_t)(bits >> (8 * i));
  return nb;
}

// HMAC's outer block: the inner digest, padded for a 64 + 32-byte message (768 bits).
static void outer_block(uint8_t blk[64], const uint32_t inner[8]) {
  for (int j = 0; j < 8; j++) store_be32(blk + 4 * j, inner[j]);
  blk[32] = 0x80;
  memset(blk + 33, 0, 29);
  blk[62] = 0x03;
  blk[63] = 0x00;
}

static void digest_out(uint8_t* out, const uint32_t st[8]) {
  for (int j = 0; j < 8; j++) store_be32(out + 4 * j, st[j]);
}

// st holds a message's final state; for HMAC, runs the outer hash over it.
static void finish_outer(const job_t* job, uint32_t st[8]) {
  if (!job->hmac) return;
  uint8_t blk[64];
  outer_block(blk, st);
  memcpy(st, job->outer, 32);
  compress_blocks(st, blk, 1, job->shani);
}

static void scalar_one(const job_t* job, const uint8_t* m, size_t len, uint8_t* out) {
  uint32_t st[8];
  uint8_t buf[128];
  size_t full = len / 64, rem = len % 64;
  memcpy(st, job->init, 32);
  compress_blocks(st, m, full, job->shani);
  compress_blocks(st, buf, pad_blocks(buf, rem ? m + 64 * full : NULL, rem, job->prefix + len), job->shani);
  finish_outer(job, st);
  digest_out(out, st);
}

static void plain_job(job_t* job, int shani) {
  memset(job, 0, sizeof(*job));
  memcpy(job->init, IV256, 32);
  job->shani = shani;
}

static void hmac_job(job_t* job, const uint8_t* key, size_t keylen, int shani) {
  uint8_t k0[64] = { 0 }, blk[64];
  plain_job(job, shani);
  if (keylen > 64) scalar_one(job, key, keylen, k0); // RFC 2104: longer keys are hashed first
  else if (keylen) memcpy(k0, key, keylen);
  for (int i = 0; i < 64; i++) blk[i] = k0[i] ^ 0x36;
  compress_blocks(job->init, blk, 1, shani);
  memcpy(job->outer, IV256, 32);
  for (int i = 0; i < 64; i++) blk[i] = k0[i] ^ 0x5c;
  compress_blocks(job->outer, blk, 1, shani);
  job->prefix = 64;
  job->hmac = 1;
  wipe(k0, sizeof(k0));
  wipe(blk, sizeof(blk));
}

// ---- AVX-512: 16 lanes ---------------------------------------------------------------------------------
#ifdef LANES_X86
#define AVX512 __attribute__((target("avx512f,avx512bw")))

// Relative costs for drain(), measured on Emerald Rapids: one 16-lane step (16 blocks) against one block
// of the scalar compression (SHA-NI ~2, portable C ~10). Only the ratios matter.
enum { STEP_COST = 16, SHANI_BLOCK_COST = 2, PORTABLE_BLOCK_COST = 10 };

static const uint8_t ZERO_BLOCK[64] __attribute__((aligned(64)));

AVX512 static inline __m512i xor3(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }

// One 64-byte block from each lane's pointer, as w[t] = word t of every lane. Sixteen row loads and a
// 16x16 dword transpose (in 32-bit, 64-bit, then 128-bit units) beat gathers, which load dword by dword.
AVX512 static inline void load16(__m512i w[16], const uint8_t* const ptr[16]) {
  const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  __m512i r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; i++) r[i] = _mm512_shuffle_epi8(_mm512_loadu_si512(ptr[i]), bswap);
  // per 128-bit lane k: t[2p] = rows 2p, 2p+1 interleaved at words 4k, 4k+1; t[2p+1] at words 4k+2, 4k+3
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // r[4g+m], 128-bit lane k = word 4k+m of rows 4g..4g+3
#pragma GCC unroll 4
  for (int g = 0; g < 16; g += 4) {
    r[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    r[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    r[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    r[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  // word 4k+m of all rows = 128-bit lane k of r[m], r[4+m], r[8+m], r[12+m]: a 4x4 transpose of 128-bit lanes
#pragma GCC unroll 4
  for (int m = 0; m < 4; m++) {
    __m512i v0 = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x44), v1 = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xEE);
    __m512i v2 = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x44), v3 = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xEE);
    w[m] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    w[4 + m] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    w[8 + m] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    w[12 + m] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}

AVX512 static inline void compress16(__m512i st[8], const uint8_t* const ptr[16]) {
  __m512i w[16];
  load16(w, ptr);
  __m512i a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#pragma GCC unroll 64
  for (int t = 0; t < 64; t++) {
    if (t >= 16) { // the schedule in a 16-word ring: w[t & 15] held W[t - 16]
      __m512i w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      __m512i s0 = xor3(_mm512_ror_epi32(w15, 7), _mm512_ror_epi32(w15, 18), _mm512_srli_epi32(w15, 3));
      __m512i s1 = xor3(_mm512_ror_epi32(w2, 17), _mm512_ror_epi32(w2, 19), _mm512_srli_epi32(w2, 10));
      w[t & 15] = _mm512_add_epi32(_mm512_add_epi32(w[t & 15], s0), _mm512_add_epi32(w[(t - 7) & 15], s1));
    }
    // h + K + W does not depend on this round's e, so it stays off the critical path
    __m512i t1 = _mm512_add_epi32(_mm512_add_epi32(h, _mm512_set1_epi32((int)K256[t])), w[t & 15]);
    __m512i S1 = xor3(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11), _mm512_ror_epi32(e, 25));
    t1 = _mm512_add_epi32(t1, _mm512_add_epi32(S1, _mm512_ternarylogic_epi32(e, f, g, 0xCA))); // Ch
    __m512i S0 = xor3(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13), _mm512_ror_epi32(a, 22));
    __m512i t2 = _mm512_add_epi32(S0, _mm512_ternarylogic_epi32(a, b, c, 0xE8)); // Maj
    h = g; g = f; f = e; e = _mm512_add_epi32(d, t1);
    d = c; c = b; b = a; a = _mm512_add_epi32(t1, t2);
  }
  st[0] = _mm512_add_epi32(st[0], a); st[1] = _mm512_add_epi32(st[1], b);
  st[2] = _mm512_add_epi32(st[2], c); st[3] = _mm512_add_epi32(st[3], d);
  st[4] = _mm512_add_epi32(st[4], e); st[5] = _mm512_add_epi32(st[5], f);
  st[6] = _mm512_add_epi32(st[6], g); st[7] = _mm512_add_epi32(st[7], h);
}

// A lane's stretches: its message's full blocks in place (DATA), its padding block(s) in tail (PAD), then for
// HMAC the outer block in tail (OUTER). An IDLE lane hashes ZERO_BLOCK and its state is garbage.
enum { IDLE, DATA, PAD, OUTER };

typedef struct {
  uint32_t st[8][16] __attribute__((aligned(64)));    // the state vectors stored, to read single lanes
  uint8_t tail[16][128] __attribute__((aligned(64))); // each lane's padding, later its outer block
  const uint8_t* ptr[16];                             // the block each lane hashes next
  size_t step[16];                                    // what ptr advances per block: 64, or 0 when idle
  size_t left[16];                                    // blocks left in the lane's current stretch
  size_t npad[16];                                    // padding blocks in tail
  size_t msg[16];                                     // the lane's message
  uint8_t stage[16];
} lanes_t;

static void lane_start(lanes_t* L, int i, const job_t* job, const uint8_t* m, size_t len, size_t idx) {
  size_t full = len / 64, rem = len % 64;
  L->npad[i] = pad_blocks(L->tail[i], rem ? m + 64 * full : NULL, rem, job->prefix + len);
  L->msg[i] = idx;
  L->step[i] = 64;
  if (full) {
    L->stage[i] = DATA; L->ptr[i] = m; L->left[i] = full;
  } else {
    L->stage[i] = PAD; L->ptr[i] = L->tail[i]; L->left[i] = L->npad[i];
  }
}

// The index of the next message to give a lane; *next counts those given. The last 64 go longest first, so
// that the lanes run out of work at nearly the same time instead of one long message running on alone.
static size_t pick(const size_t* lens, size_t n, size_t* next, uint64_t* taken) {
  size_t base = n > 64 ? n - 64 : 0, best = SIZE_MAX;
  if (*next < base) return (*next)++;
  for (size_t j = base; j < n; j++)
    if (!(*taken >> (j - base) & 1) && (best == SIZE_MAX || lens[j] > lens[best])) best = j;
  *taken |= 1ull << (best - base);
  (*next)++;
  return best;
}

static void lane_idle(lanes_t* L, int i) {
  L->stage[i] = IDLE; L->ptr[i] = ZERO_BLOCK; L->step[i] = 0; L->left[i] = 0;
}

static void lane_state(const lanes_t* L, int i, uint32_t s[8]) {
  for (int j = 0; j < 8; j++) s[j] = L->st[j][i];
}

// Finishes lane i with the scalar compression, from its state in L->st.
static void lane_finish_scalar(const lanes_t* L, int i, const job_t* job, uint8_t* out) {
  uint32_t s[8];
  lane_state(L, i, s);
  compress_blocks(s, L->ptr[i], L->left[i], job->shani);
  if (L->stage[i] == DATA) compress_blocks(s, L->tail[i], L->npad[i], job->shani);
  if (L->stage[i] != OUTER) finish_outer(job, s);
  digest_out(out + 32 * L->msg[i], s);
}

AVX512 static void store_state(lanes_t* L, const __m512i st[8]) {
  for (int j = 0; j < 8; j++) _mm512_store_si512(L->st[j], st[j]);
}

// Once no message waits for a lane, a 16-lane step costs the same however few lanes are busy and retires one
// block per busy lane, while the scalar compression costs the same per block whatever happens. So finishing
// every busy lane by scalar code wins exactly when fewer than STEP_COST / block cost lanes are busy; the count
// changes only at lane events, where this is called again. (Draining whole lanes early, the longest first,
// was slower: the lanes' shared steps are the cheap part of every message.) Returns the lanes still active.
AVX512 static unsigned drain(lanes_t* L, const __m512i st[8], unsigned active, const job_t* job, uint8_t* out) {
  const unsigned block_cost = job->shani ? SHANI_BLOCK_COST : PORTABLE_BLOCK_COST;
  if (!active || (unsigned)__builtin_popcount(active) * block_cost >= STEP_COST) return active;
  store_state(L, st);
  for (int i = 0; i < 16; i++) {
    if (!(active >> i & 1)) continue;
    lane_finish_scalar(L, i, job, out);
    lane_idle(L, i);
  }
  return 0;
}

// All n messages through the 16 lanes (see the top of the file); digests land in out as each message ends.
AVX512 static void lanes_many(const job_t* job, const uint8_t* const* msgs, const size_t* lens, size_t n, uint8_t* out) {
  lanes_t L;
  __m512i st[8];
  for (int j = 0; j < 8; j++) st[j] = _mm512_set1_epi32((int)job->init[j]);
  size_t next = 0;
  uint64_t taken = 0;
  unsigned active = 0, fresh = 0, outer = 0; // lane masks: busy, to reset to init, to reset to the outer state
  for (int i = 0; i < 16; i++) {
    if (next < n) {
      size_t m = pick(lens, n, &next, &taken);
      lane_start(&L, i, job, msgs[m], lens[m], m);
      active |= 1u << i;
    } else {
      lane_idle(&L, i);
    }
  }
  for (;;) {
    if (fresh | outer) {
      for (int j = 0; j < 8; j++) {
        st[j] = _mm512_mask_mov_epi32(st[j], (__mmask16)fresh, _mm512_set1_epi32((int)job->init[j]));
        st[j] = _mm512_mask_mov_epi32(st[j], (__mmask16)outer, _mm512_set1_epi32((int)job->outer[j]));
      }
      fresh = outer = 0;
    }
    if (next == n) active = drain(&L, st, active, job, out);
    if (!active) break;
    size_t k = SIZE_MAX; // steps until the next lane event
    for (int i = 0; i < 16; i++)
      if (active >> i & 1 && L.left[i] < k) k = L.left[i];
    for (size_t s = 0; s < k; s++) {
      compress16(st, L.ptr);
      for (int i = 0; i < 16; i++) L.ptr[i] += L.step[i];
    }
    int stored = 0;
    for (int i = 0; i < 16; i++) {
      if (!(active >> i & 1) || (L.left[i] -= k)) continue;
      if (L.stage[i] == DATA) { L.stage[i] = PAD; L.ptr[i] = L.tail[i]; L.left[i] = L.npad[i]; continue; }
      if (!stored) { store_state(&L, st); stored = 1; }
      uint32_t s[8];
      lane_state(&L, i, s);
      if (L.stage[i] == PAD && job->hmac) {
        outer_block(L.tail[i], s);
        L.stage[i] = OUTER; L.ptr[i] = L.tail[i]; L.left[i] = 1;
        outer |= 1u << i;
        continue;
      }
      digest_out(out + 32 * L.msg[i], s);
      if (next < n) {
        size_t m = pick(lens, n, &next, &taken);
        lane_start(&L, i, job, msgs[m], lens[m], m);
        fresh |= 1u << i;
      } else {
        lane_idle(&L, i);
        active &= ~(1u << i);
      }
    }
  }
  if (job->hmac) wipe(L.st, sizeof(L.st)); // may hold the inner state, which stands in for the key
}
#endif

// ---- API -----------------------------------------------------------------------------------------------

void sha256_many(const uint8_t* const* msgs, const size_t* lens, size_t n, uint8_t* out) {
  int f = flags();
#ifdef LANES_X86
  if (f & F_AVX512) {
    job_t job;
    plain_job(&job, !!(f & F_SHANI));
    lanes_many(&job, msgs, lens, n, out);
    return;
  }
#endif
  (void)f;
  for (size_t i = 0; i < n; i++) SHA256(lens[i] ? msgs[i] : (const uint8_t*)"", lens[i], out + 32 * i);
}

void hmac_sha256_many(const uint8_t* key, size_t keylen, const uint8_t* const* msgs, const size_t* lens, size_t n,
                      uint8_t* out) {
  int f = flags();
  job_t job;
  hmac_job(&job, key, keylen, !!(f & F_SHANI));
#ifdef LANES_X86
  if (f & F_AVX512) lanes_many(&job, msgs, lens, n, out);
  else
#endif
    for (size_t i = 0; i < n; i++) scalar_one(&job, msgs[i], lens[i], out + 32 * i);
  wipe(&job, sizeof(job));
}

// Multi-buffer SHA-256 and HMAC-SHA-256: many independent messages hashed at once, each 32-bit lane of
// an AVX-512 register carrying a different message (16 at a time), with a scalar fallback on CPUs
// without AVX-512. Digests are exactly those of FIPS 180-4 SHA-256 / RFC 2104 HMAC-SHA-256.
#ifndef SHA256_LANES_H
#define SHA256_LANES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// SHA-256 of n messages: msgs[i] points to lens[i] bytes; the 32-byte digest of message i goes to out + 32*i.
// Messages may have any length (0 included; msgs[i] may then be NULL), may overlap or repeat, and need no
// alignment. Thread-safe: no global mutable state besides the dispatch choice.
void sha256_many(const uint8_t* const* msgs, const size_t* lens, size_t n, uint8_t* out);

// HMAC-SHA-256 (RFC 2104) with one key (of any length) for all n messages; out as for sha256_many.
void hmac_sha256_many(const uint8_t* key, size_t keylen, const uint8_t* const* msgs, const size_t* lens, size_t n,
                      uint8_t* out);

// Which implementation runs: 0 = scalar/OpenSSL fallback, 1 = AVX-512 16 lanes.
int sha256_lanes_impl(void);

// For tests and benchmarks: 0 forces the fallback, 1 the AVX-512 lanes (honoured only where the CPU has
// AVX-512 F and BW), -1 returns to automatic choice. OR-ing SHA256_LANES_NO_SHA_NI keeps the scalar paths
// (the lanes' end-of-batch drain, HMAC's fallback) off the SHA-NI instructions, so the portable code gets
// tested on CPUs that have them. Each call reads the choice once as it starts, so calls already running on
// other threads are unaffected.
#define SHA256_LANES_NO_SHA_NI 0x100
void sha256_lanes_force(int impl);

#ifdef __cplusplus
}
#endif

#endif

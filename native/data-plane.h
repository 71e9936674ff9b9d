// What the addon's C files share (data-plane.c defines these).
#ifndef QUIESCE_DATA_PLANE_H
#define QUIESCE_DATA_PLANE_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A typed array argument's data and element count, of the expected type (else NULL; an empty
// array's data is not NULL).
void* typed_arg(napi_env env, napi_value v, napi_typedarray_type want, size_t* n);

// 1 when p[0, n) is all zero bytes.
int all_zero(const uint8_t* p, size_t n);

// Cuts buf[0, len) (at disk offset `base`) content-defined into at most `cap` chunks, their lengths
// into `out`; with `ids` and `zero`, each chunk is SHA-256-named right after its cut. Returns the
// count. When `final` is false the piece the buffer's end cut short is left out.
size_t cut_all(const uint8_t* buf, size_t len, bool final, uint64_t base, uint32_t min, uint32_t max, uint32_t mask, uint32_t* out, size_t cap, uint8_t* ids,
               uint8_t* zero);

// How many distinct values 512 evenly spaced bytes of b[0, len) take (data that looks random: > 200).
uint32_t sample_distinct(const uint8_t* b, size_t len);

// The backup engine's functions (backup-engine.c) on `exports`.
void engine_register(napi_env env, napi_value exports);
#endif

/* What every qseq C kernel shares (qseq/_native.py compiles each kernel twice, with and without
 * QSEQ_FLOAT, and adds this directory to the include path).
 *
 * real          float or double, with SQRT, EXP, TANH in that precision
 * NAME(f)       the entry point's name with the precision's suffix: f_f32 or f_f64
 * vec, VL       a GNU C vector of 32 bytes (VL reals), so the compiler emits SIMD code for any target;
 *               load and store move one to and from memory at any alignment
 */
#ifndef QSEQ_NATIVE_H
#define QSEQ_NATIVE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef QSEQ_FLOAT
typedef float real;
#define SQRT sqrtf
#define EXP expf
#define TANH tanhf
#define SUFFIX f32
#else
typedef double real;
#define SQRT sqrt
#define EXP exp
#define TANH tanh
#define SUFFIX f64
#endif

#define NAME3(a, b) a##_##b
#define NAME2(a, b) NAME3(a, b)
#define NAME(f) NAME2(f, SUFFIX)

typedef real vec __attribute__((vector_size(32)));
enum { VL = sizeof(vec) / sizeof(real) };

static inline vec load(const real *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store(real *p, vec v) { memcpy(p, &v, sizeof v); }

#endif

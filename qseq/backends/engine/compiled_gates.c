/* The 2x2 matrices of single-qubit gates built from their angles in C, and their backward pass
 * (compiled_gates.py).
 *
 * Each of N matrix sets holds `slots` matrices (one per wire of each Local stage of a run). A slot's
 * matrix is the product of its steps, first step applied first: m = S_k ... S_2 S_1, where a step is
 * a rotation R_a(t) = exp(-i t sigma_a / 2) = cos(t/2) I - i sin(t/2) sigma_a about axis a (X, Y or Z)
 * by the angle in column `arg` of the set's row (given as cos(t/2) and sin(t/2), computed by torch's
 * vectorised functions), or the constant matrix number `arg`.
 * Every parametric single-qubit gate of qseq's table is such a product (GateSpec.axes); a slot
 * without steps is the identity.
 *
 * The backward pass turns the matrices' gradient G (torch's convention for complex tensors,
 * dL/dRe + i dL/dIm) into the angles' gradient: dL/dt_j = Re sum_ab conj(G_ab) (A dS_j B)_ab with
 * A = S_k ... S_{j+1} and B = S_{j-1} ... S_1, accumulated over every step that reads column j.
 *
 * Complex numbers are interleaved (re, im) pairs of real. Compiled by qseq._native with and
 * without QSEQ_FLOAT.
 */
#include "_native.h"

enum { AXIS_X, AXIS_Y, AXIS_Z, CONSTANT, MAX_STEPS = 16 };

typedef struct {
    int N, P, slots;         /* matrix sets, angle columns per set, matrices per set */
    const int *start;        /* (slots + 1) the steps of slot s are start[s] .. start[s + 1] - 1 */
    const int *axis;         /* (T) AXIS_X, AXIS_Y, AXIS_Z or CONSTANT */
    const int *arg;          /* (T) the angle's column, or the constant's number */
    const real *consts;      /* (C, 2, 2) complex */
    const real *cos_half;    /* (N, P) cos(t/2) of every angle t */
    const real *sin_half;    /* (N, P) sin(t/2) */
    real *mats;              /* (N, slots, 2, 2) complex: forward output */
    const real *grad_mats;   /* (N, slots, 2, 2) complex: backward input */
    real *grad_angles;       /* (N, P): backward output */
} gate_args;

/* A 2x2 complex matrix held in scalars (the kernel builds matrices in registers: writing one as
   reals and reading it back as vectors stalls on store forwarding). */
typedef struct {
    real r[2][2], i[2][2];
} mat2;

static const mat2 IDENTITY = {{{1, 0}, {0, 1}}, {{0, 0}, {0, 0}}};

static inline mat2 mul2(mat2 a, mat2 b) {
    mat2 c;
    for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++) {
            c.r[x][y] = a.r[x][0] * b.r[0][y] - a.i[x][0] * b.i[0][y] + a.r[x][1] * b.r[1][y] - a.i[x][1] * b.i[1][y];
            c.i[x][y] = a.r[x][0] * b.i[0][y] + a.i[x][0] * b.r[0][y] + a.r[x][1] * b.i[1][y] + a.i[x][1] * b.r[1][y];
        }
    return c;
}

/* cos(t/2) I - i sin(t/2) sigma_a written with (c, s) = (cos, sin)(t/2); with (c, s) replaced by
   (-sin, cos)(t/2) / 2 the same expression is the derivative in t. */
static inline mat2 rotation(int axis, real c, real s) {
    mat2 m = {{{c, 0}, {0, c}}, {{0, 0}, {0, 0}}};
    if (axis == AXIS_X) m.i[0][1] = m.i[1][0] = -s;
    else if (axis == AXIS_Y) m.r[0][1] = -s, m.r[1][0] = s;
    else m.i[0][0] = -s, m.i[1][1] = s;
    return m;
}

/* The matrix of step t of set r. */
static inline mat2 step_matrix(const gate_args *A, int t, size_t r) {
    if (A->axis[t] == CONSTANT) {
        const real *k = A->consts + 8 * A->arg[t];
        return (mat2){{{k[0], k[2]}, {k[4], k[6]}}, {{k[1], k[3]}, {k[5], k[7]}}};
    }
    const size_t at = (size_t)A->P * r + A->arg[t];
    return rotation(A->axis[t], A->cos_half[at], A->sin_half[at]);
}

/* S_t m for step t of set r, a rotation's product written out. */
static inline mat2 times_step(const gate_args *A, int t, size_t r, mat2 m) {
    if (A->axis[t] == CONSTANT) return mul2(step_matrix(A, t, r), m);
    const size_t at = (size_t)A->P * r + A->arg[t];
    const real c = A->cos_half[at], s = A->sin_half[at];
    mat2 o;
    for (int y = 0; y < 2; y++)
        if (A->axis[t] == AXIS_X) { /* rows (c m0 - i s m1, -i s m0 + c m1) */
            o.r[0][y] = c * m.r[0][y] + s * m.i[1][y], o.i[0][y] = c * m.i[0][y] - s * m.r[1][y];
            o.r[1][y] = s * m.i[0][y] + c * m.r[1][y], o.i[1][y] = -s * m.r[0][y] + c * m.i[1][y];
        } else if (A->axis[t] == AXIS_Y) { /* (c m0 - s m1, s m0 + c m1) */
            o.r[0][y] = c * m.r[0][y] - s * m.r[1][y], o.i[0][y] = c * m.i[0][y] - s * m.i[1][y];
            o.r[1][y] = s * m.r[0][y] + c * m.r[1][y], o.i[1][y] = s * m.i[0][y] + c * m.i[1][y];
        } else { /* ((c - i s) m0, (c + i s) m1) */
            o.r[0][y] = c * m.r[0][y] + s * m.i[0][y], o.i[0][y] = c * m.i[0][y] - s * m.r[0][y];
            o.r[1][y] = c * m.r[1][y] - s * m.i[1][y], o.i[1][y] = c * m.i[1][y] + s * m.r[1][y];
        }
    return o;
}

int NAME(gates_forward)(const gate_args *A) {
    for (int r = 0; r < A->N; r++)
        for (int s = 0; s < A->slots; s++) {
            mat2 m = IDENTITY;
            for (int t = A->start[s]; t < A->start[s + 1]; t++) m = times_step(A, t, r, m);
            real *out = A->mats + ((size_t)A->slots * r + s) * 8;
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) out[4 * x + 2 * y] = m.r[x][y], out[4 * x + 2 * y + 1] = m.i[x][y];
        }
    return 0;
}

int NAME(gates_backward)(const gate_args *A) {
    memset(A->grad_angles, 0, sizeof(real) * A->P * (size_t)A->N);
    for (int r = 0; r < A->N; r++) {
        real *grad_row = A->grad_angles + (size_t)A->P * r;
        for (int s = 0; s < A->slots; s++) {
            const int first = A->start[s], k = A->start[s + 1] - first;
            const real *G = A->grad_mats + ((size_t)A->slots * r + s) * 8;
            mat2 steps[MAX_STEPS], before[MAX_STEPS + 1], after = IDENTITY;
            before[0] = IDENTITY;
            for (int j = 0; j < k; j++) { /* before[j] = S_{j-1} ... S_0 */
                steps[j] = step_matrix(A, first + j, r);
                before[j + 1] = mul2(steps[j], before[j]);
            }
            for (int j = k - 1; j >= 0; j--) { /* after = S_{k-1} ... S_{j+1} */
                const int t = first + j;
                if (A->axis[t] != CONSTANT) {
                    const size_t at = (size_t)A->P * r + A->arg[t];
                    const mat2 d = mul2(mul2(after, rotation(A->axis[t], -A->sin_half[at] / 2, A->cos_half[at] / 2)),
                                        before[j]);
                    real g = 0;
                    for (int x = 0; x < 2; x++)
                        for (int y = 0; y < 2; y++) g += G[4 * x + 2 * y] * d.r[x][y] + G[4 * x + 2 * y + 1] * d.i[x][y];
                    grad_row[A->arg[t]] += g;
                }
                after = mul2(after, steps[j]);
            }
        }
    }
    return 0;
}

/* The fused QLSTM layer's time loop in C: forward and hand-written backward pass.
 *
 * The same equations as qseq/models/fused.py (which is the reference and the fallback): at every
 * time step the gate bank (VQC1-4) and the hidden bank (VQC5, with VQC6 when the layer has a
 * readout VQC) are evaluated in the product-state form of qseq/backends/engine/product.py,
 *
 *     psi = kron_q z_q(s_q),   z_q(s) = sin(alpha_q a_q + off_q(s)) exp(i (s - 1/2) hz_q b_q),
 *     a = arctan p,  b = arctan p^2,
 *     y = psi @ W  (real GEMM on interleaved (re, im) pairs),
 *     <Z word j>_k = sum_s |y_{k,s}|^2 obs[s, j],
 *
 * and the LSTM update runs on the expectation values:
 *
 *     f, i, o = sigmoid(z_f, z_i, z_o),  g = tanh(z_g),  c_t = f c_{t-1} + i g,
 *     u_t = o tanh(c_t),  [h_t, y_t] = VQC5-6(u_t).
 *
 * Without gradients the layer runs in fused_lanes_kernel.c instead (a separate file: a training
 * step does not wait for its compile).
 *
 * All sizes are small (registers up to 10 qubits); one call runs the whole sequence on one thread,
 * replacing a few hundred tensor operations per time step. Compiled twice by qseq._native, with
 * and without QSEQ_FLOAT; the entry points take one struct of sizes and pointers
 * (qseq/models/fused_native.py builds it).
 */
#include "_native.h"
#include "models/fused_encoding.h"

typedef struct {
    int T, B, I, H, n, K2, readout, keep_steps; /* sizes; K2 circuits in the hidden bank (1 or 2) */
    int ldw;               /* row stride of wg and wh (column blocks of one matrix) */
    const real *x, *h0, *c0, *keep, *proj_w, *proj_b; /* (T,B,I) (B,H) (B,n) (T,B)|0 (n,I+H)|0 (n)|0 */
    const real *wg, *wh;   /* (2D, 4*2D), (2D, K2*2D), row stride ldw: the banks' real unitaries */
    const real *wgT, *whT; /* their transposes (backward pass only) */
    const real *alpha, *off, *hz, *obs; /* (n) RY scale, (n,4) offsets' sin, cos, (n) RZ present, (D,n) readout */
    real *ys, *h, *c;      /* (T,B,H or n), (B,H), (B,n) */
    /* values kept per step for the backward pass (slot t, or slot 0 when keep_steps is 0) */
    real *v, *p, *psi_g, *y_g, *forget, *d_gates, *d_c, *u, *psi_h, *y_h;
    const real *grad_ys, *grad_h, *grad_c; /* backward inputs (each may be 0) */
    real *gx, *gh0, *gc0, *gy_g, *gy_h, *gp; /* backward outputs */
} qlstm_args;

/* y (rows x N, row stride ldy) = x (rows x K, row stride ldx) @ w (K x N, row stride ldw). Blocks of
   4 rows x 2 vectors of columns are accumulated in registers over all of K (GNU C vector types, so
   the compiler emits SIMD code for any target); the edges take a plain loop. */
enum { CW = 2 * VL }; /* columns of a register block */

static void gemm(int rows, int K, int N, const real *restrict x, int ldx, const real *restrict w, int ldw,
                 real *restrict y, int ldy) {
    const int full_rows = rows - rows % 4, full_cols = N - N % CW;
    for (int c0 = 0; c0 < full_cols; c0 += CW) {
        for (int r0 = 0; r0 < full_rows; r0 += 4) {
            vec a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
            const real *x0 = x + (size_t)r0 * ldx;
            for (int k = 0; k < K; k++) {
                const vec wa = load(w + (size_t)k * ldw + c0), wb = load(w + (size_t)k * ldw + c0 + VL);
                const real s0 = x0[k], s1 = x0[ldx + k], s2 = x0[2 * (size_t)ldx + k], s3 = x0[3 * (size_t)ldx + k];
                a0 += s0 * wa, b0 += s0 * wb;
                a1 += s1 * wa, b1 += s1 * wb;
                a2 += s2 * wa, b2 += s2 * wb;
                a3 += s3 * wa, b3 += s3 * wb;
            }
            const vec out[8] = {a0, b0, a1, b1, a2, b2, a3, b3};
            for (int r = 0; r < 4; r++) memcpy(y + (size_t)(r0 + r) * ldy + c0, out + 2 * r, 2 * sizeof(vec));
        }
    }
    for (int r = 0; r < rows; r++) { /* the edges: rows past the last block of four, columns past the last CW */
        const int from = r < full_rows ? full_cols : 0;
        real *yr = y + (size_t)r * ldy;
        for (int j = from; j < N; j++) yr[j] = 0;
        for (int k = 0; k < K; k++) {
            const real a = x[(size_t)r * ldx + k];
            const real *wk = w + (size_t)k * ldw;
            for (int j = from; j < N; j++) yr[j] += a * wk[j];
        }
    }
}

/* Kronecker product of the wires' factors z into psi (D complex, interleaved), expanded in place
   one wire at a time; part, when given, receives the products of the first 1, 2, ..., n - 1 wires
   (sizes 2, 4, ..., D/2; the one of size m at offset 2 (m - 2)). */
static void kron(int n, const real *z, real *psi, real *part) {
    psi[0] = z[0], psi[1] = z[1], psi[2] = z[2], psi[3] = z[3];
    for (int q = 1, size = 2; q < n; q++, size *= 2) {
        if (part) memcpy(part + 2 * (size - 2), psi, sizeof(real) * 2 * size);
        const real z0r = z[4 * q], z0i = z[4 * q + 1], z1r = z[4 * q + 2], z1i = z[4 * q + 3];
        for (int i = size - 1; i >= 0; i--) { /* downwards: entry i is read before 2i, 2i + 1 are written */
            real re = psi[2 * i], im = psi[2 * i + 1];
            psi[4 * i] = re * z0r - im * z0i;
            psi[4 * i + 1] = re * z0i + im * z0r;
            psi[4 * i + 2] = re * z1r - im * z1i;
            psi[4 * i + 3] = re * z1i + im * z1r;
        }
    }
}

/* Expectation values out (K, n) of K evolved states y (K, 2D). */
static void readout(int K, int n, int D, const real *y, const real *obs, real *out) {
    for (int k = 0; k < K; k++) {
        real *o = out + k * n;
        for (int j = 0; j < n; j++) o[j] = 0;
        const real *yk = y + (size_t)k * 2 * D;
        for (int s = 0; s < D; s++) {
            real pr = yk[2 * s] * yk[2 * s] + yk[2 * s + 1] * yk[2 * s + 1];
            const real *os = obs + (size_t)s * n;
            for (int j = 0; j < n; j++) o[j] += pr * os[j];
        }
    }
}

/* The readout's backward pass: gy (K, 2D) = 2 (grad @ obs^T) y, for grad (K, n). */
static void readout_backward(int K, int n, int D, const real *grad, const real *y, const real *obs, real *gy) {
    for (int k = 0; k < K; k++) {
        const real *g = grad + k * n;
        const real *yk = y + (size_t)k * 2 * D;
        real *gk = gy + (size_t)k * 2 * D;
        for (int s = 0; s < D; s++) {
            real w = 0;
            const real *os = obs + (size_t)s * n;
            for (int j = 0; j < n; j++) w += g[j] * os[j];
            gk[2 * s] = 2 * w * yk[2 * s];
            gk[2 * s + 1] = 2 * w * yk[2 * s + 1];
        }
    }
}

/* Gradient gpv (n) of the encoded values p from the gradient G (2D, interleaved) of the product
   state: the Kronecker factors are undone one wire at a time from the last, each wire's gradient
   read off on the way (O(D) work). scratch: at least 6D + 12n reals. */
static void state_backward(int n, const real *p, const real *G, const real *alpha, const real *off,
                           const real *hz, real *gpv, real *scratch) {
    int D = 1 << n;
    real *z = scratch, *dz = z + 4 * n, *k = dz + 4 * n, *as = k + 2 * n, *bs = as + n;
    real *part = bs + n, *g = part + 2 * D, *g2 = g + 2 * D; /* part: 2 + 4 + ... + D/2 complex */
    wire_factors(n, p, alpha, off, hz, z, dz, k, as, bs);
    kron(n, z, g2, part); /* only the partial products are needed; g2 is overwritten below */
    memcpy(g, G, sizeof(real) * 2 * D);
    for (int q = n - 1; q >= 0; q--) {
        int prefixes = 1 << q;
        real gz[4] = {0, 0, 0, 0}; /* Gz_q(t) = sum_prefix g[prefix, t] conj(part_{q-1}[prefix]) */
        const real *pq = q > 0 ? part + 2 * ((1 << q) - 2) : 0;
        for (int pre = 0; pre < prefixes; pre++) {
            real pr = q > 0 ? pq[2 * pre] : 1, pi = q > 0 ? pq[2 * pre + 1] : 0;
            real nr = 0, ni = 0;
            for (int t = 0; t < 2; t++) {
                real gr = g[4 * pre + 2 * t], gi = g[4 * pre + 2 * t + 1];
                gz[2 * t] += gr * pr + gi * pi;
                gz[2 * t + 1] += gi * pr - gr * pi;
                real zr = z[4 * q + 2 * t], zi = z[4 * q + 2 * t + 1];
                nr += gr * zr + gi * zi; /* g conj(z_q(t)) */
                ni += gi * zr - gr * zi;
            }
            g2[2 * pre] = nr, g2[2 * pre + 1] = ni;
        }
        real ga = 0, gb = 0; /* Re(conj(Gz) dz/da), Re(conj(Gz) i k z) */
        for (int t = 0; t < 2; t++) {
            real gr = gz[2 * t], gi = gz[2 * t + 1];
            ga += gr * dz[4 * q + 2 * t] + gi * dz[4 * q + 2 * t + 1];
            real zr = z[4 * q + 2 * t], zi = z[4 * q + 2 * t + 1];
            gb += k[2 * q + t] * (gi * zr - gr * zi);
        }
        gpv[q] = ga * as[q] + gb * bs[q];
        real *swap = g;
        g = g2, g2 = swap;
    }
}

int NAME(qlstm_forward)(const qlstm_args *A) {
    const int T = A->T, B = A->B, I = A->I, H = A->H, n = A->n, K2 = A->K2, IH = I + H;
    const int D = 1 << n, D2 = 2 * D, out_size = A->readout ? n : H;
    real *scratch = malloc(sizeof(real) * (size_t)(4 * n + 4 * n + K2 * n));
    if (!scratch) return 1;
    real *z = scratch, *ev = z + 4 * n, *evh = ev + 4 * n;
    real *h = A->h, *c = A->c;
    memcpy(h, A->h0, sizeof(real) * B * H);
    memcpy(c, A->c0, sizeof(real) * B * n);
    for (int t = 0; t < T; t++) {
        const size_t slot = A->keep_steps ? (size_t)t : 0;
        real *V = A->v + slot * B * IH, *P = A->p + slot * B * n;
        real *PG = A->psi_g + slot * B * D2, *YG = A->y_g + slot * B * 4 * D2;
        real *F = A->forget + slot * B * n, *DG = A->d_gates + slot * B * 4 * n, *DC = A->d_c + slot * B * n;
        real *U = A->u + slot * B * n, *PH = A->psi_h + slot * B * D2, *YH = A->y_h + slot * B * K2 * D2;
        for (int b = 0; b < B; b++) {
            real *hb = h + b * H, *cb = c + b * n, *vb = V + (size_t)b * IH, *pb = P + (size_t)b * n;
            if (A->keep) {
                real k = A->keep[(size_t)t * B + b];
                for (int j = 0; j < H; j++) hb[j] *= k;
                for (int j = 0; j < n; j++) cb[j] *= k;
            }
            memcpy(vb, A->x + ((size_t)t * B + b) * I, sizeof(real) * I);
            memcpy(vb + I, hb, sizeof(real) * H);
            if (A->proj_w) {
                for (int q = 0; q < n; q++) {
                    real s = A->proj_b ? A->proj_b[q] : 0;
                    for (int j = 0; j < IH; j++) s += A->proj_w[(size_t)q * IH + j] * vb[j];
                    pb[q] = s;
                }
            } else {
                memcpy(pb, vb, sizeof(real) * n);
            }
            wire_factors(n, pb, A->alpha, A->off, A->hz, z, 0, 0, 0, 0);
            kron(n, z, PG + (size_t)b * D2, 0);
        }
        gemm(B, D2, 4 * D2, PG, D2, A->wg, A->ldw, YG, 4 * D2);
        for (int b = 0; b < B; b++) {
            readout(4, n, D, YG + (size_t)b * 4 * D2, A->obs, ev);
            real *cb = c + b * n, *ub = U + (size_t)b * n, *dg = DG + (size_t)b * 4 * n;
            for (int j = 0; j < n; j++) {
                real f = 1 / (1 + EXP(-ev[j])), i = 1 / (1 + EXP(-ev[n + j]));
                real sg = 1 / (1 + EXP(-2 * ev[2 * n + j])), o = 1 / (1 + EXP(-ev[3 * n + j]));
                real g = 2 * sg - 1, c_prev = cb[j];
                real cn = f * c_prev + i * g, tc = TANH(cn), uu = o * tc;
                F[(size_t)b * n + j] = f;
                dg[j] = c_prev * f * (1 - f);
                dg[n + j] = g * i * (1 - i);
                dg[2 * n + j] = i * 4 * sg * (1 - sg);
                dg[3 * n + j] = tc * o * (1 - o);
                DC[(size_t)b * n + j] = o - uu * tc;
                cb[j] = cn;
                ub[j] = uu;
            }
            wire_factors(n, ub, A->alpha, A->off, A->hz, z, 0, 0, 0, 0);
            kron(n, z, PH + (size_t)b * D2, 0);
        }
        gemm(B, D2, K2 * D2, PH, D2, A->wh, A->ldw, YH, K2 * D2);
        for (int b = 0; b < B; b++) {
            readout(K2, n, D, YH + (size_t)b * K2 * D2, A->obs, evh);
            memcpy(h + b * H, evh, sizeof(real) * H);
            memcpy(A->ys + ((size_t)t * B + b) * out_size, A->readout ? evh + n : evh, sizeof(real) * out_size);
        }
    }
    free(scratch);
    return 0;
}

int NAME(qlstm_backward)(const qlstm_args *A) {
    const int T = A->T, B = A->B, I = A->I, H = A->H, n = A->n, K2 = A->K2, IH = I + H;
    const int D = 1 << n, D2 = 2 * D, out_size = A->readout ? n : H;
    real *buf = malloc(sizeof(real) * ((size_t)B * (H + n + D2) + 6 * D + 12 * n + K2 * n + 4 * n + n + IH));
    if (!buf) return 1;
    real *gh = buf, *gc = gh + (size_t)B * H, *gpsi = gc + (size_t)B * n, *scratch = gpsi + (size_t)B * D2;
    real *gout = scratch + 6 * D + 12 * n, *ggates = gout + K2 * n, *gpv = ggates + 4 * n, *gv = gpv + n;
    for (int i = 0; i < B * H; i++) gh[i] = A->grad_h ? A->grad_h[i] : 0;
    for (int i = 0; i < B * n; i++) gc[i] = A->grad_c ? A->grad_c[i] : 0;
    for (int t = T - 1; t >= 0; t--) {
        const size_t s = (size_t)t;
        const real *P = A->p + s * B * n;
        const real *YG = A->y_g + s * B * 4 * D2, *F = A->forget + s * B * n;
        const real *DG = A->d_gates + s * B * 4 * n, *DC = A->d_c + s * B * n, *U = A->u + s * B * n;
        const real *YH = A->y_h + s * B * K2 * D2;
        real *GYG = A->gy_g + s * B * 4 * D2, *GYH = A->gy_h + s * B * K2 * D2, *GP = A->gp + s * B * n;
        for (int b = 0; b < B; b++) {
            const real *gy = A->grad_ys ? A->grad_ys + (s * B + b) * out_size : 0;
            for (int j = 0; j < K2 * n; j++) gout[j] = 0;
            for (int j = 0; j < H; j++) gout[j] = gh[b * H + j] + (!A->readout && gy ? gy[j] : 0);
            if (A->readout && gy) memcpy(gout + n, gy, sizeof(real) * n);
            readout_backward(K2, n, D, gout, YH + (size_t)b * K2 * D2, A->obs, GYH + (size_t)b * K2 * D2);
        }
        gemm(B, K2 * D2, D2, GYH, K2 * D2, A->whT, D2, gpsi, D2);
        for (int b = 0; b < B; b++) {
            const real *ub = U + (size_t)b * n, *dg = DG + (size_t)b * 4 * n;
            state_backward(n, ub, gpsi + (size_t)b * D2, A->alpha, A->off, A->hz, gpv, scratch);
            real *gcb = gc + b * n;
            for (int j = 0; j < n; j++) {
                real gu = gpv[j];
                gcb[j] += gu * DC[(size_t)b * n + j];
                ggates[j] = gcb[j] * dg[j];
                ggates[n + j] = gcb[j] * dg[n + j];
                ggates[2 * n + j] = gcb[j] * dg[2 * n + j];
                ggates[3 * n + j] = gu * dg[3 * n + j];
                gcb[j] *= F[(size_t)b * n + j];
            }
            readout_backward(4, n, D, ggates, YG + (size_t)b * 4 * D2, A->obs, GYG + (size_t)b * 4 * D2);
        }
        gemm(B, 4 * D2, D2, GYG, 4 * D2, A->wgT, D2, gpsi, D2);
        for (int b = 0; b < B; b++) {
            real *gpb = GP + (size_t)b * n;
            state_backward(n, P + (size_t)b * n, gpsi + (size_t)b * D2, A->alpha, A->off, A->hz, gpb, scratch);
            if (A->proj_w) {
                for (int j = 0; j < IH; j++) gv[j] = 0;
                for (int q = 0; q < n; q++)
                    for (int j = 0; j < IH; j++) gv[j] += gpb[q] * A->proj_w[(size_t)q * IH + j];
            } else {
                memcpy(gv, gpb, sizeof(real) * n);
            }
            if (A->gx) memcpy(A->gx + (s * B + b) * I, gv, sizeof(real) * I);
            real k = A->keep ? A->keep[s * B + b] : 1;
            for (int j = 0; j < H; j++) gh[b * H + j] = gv[I + j] * k;
            for (int j = 0; j < n; j++) gc[b * n + j] *= k;
        }
    }
    memcpy(A->gh0, gh, sizeof(real) * B * H);
    memcpy(A->gc0, gc, sizeof(real) * B * n);
    free(buf);
    return 0;
}

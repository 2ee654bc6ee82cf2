// im2col and its adjoint col2im for 2-D convolution (see backends/generic.py for the
// layouts): cols[n, oh, ow, g, i, j, c] = x[n, g*C/G + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
// with zeros outside the input.
#include "common.cuh"

namespace nyang {

// Strides (in elements) of the (N, OH, OW, G, kh, kw, C/G) columns.
struct ColumnStrides {
    long long n, oh, ow, g, i, j, c;
};

// One element of the columns: `index` runs over (N, OH, OW, G, kh, kw, C/G) in row-major
// order, the channel innermost, so a warp writes consecutive memory (and reads it too
// when x is channels-last). Padding reads nothing and writes zero.
template <typename T>
__host__ __device__ __forceinline__ void im2col_at(
        long long index, const T* __restrict__ x, T* __restrict__ cols, long long C, long long H, long long W,
        Strides4 sx, long long OH, long long OW, long long G, Window k) {
    const long long cg = C / G;
    long long rest, c, j, i, g, ow, oh, n;
    divmod(index, cg, rest, c);
    divmod(rest, k.kw, rest, j);
    divmod(rest, k.kh, rest, i);
    divmod(rest, G, rest, g);
    divmod(rest, OW, rest, ow);
    divmod(rest, OH, n, oh);
    const long long h = oh * k.sh - k.ph + i * k.dh;
    const long long w = ow * k.sw - k.pw + j * k.dw;
    if (h >= 0 && h < H && w >= 0 && w < W) {
        cols[index] = x[n * sx.n + (g * cg + c) * sx.c + h * sx.h + w * sx.w];
    } else {
        cols[index] = from_acc<T>(0);
    }
}

// One element of the input gradient, a gather: the sum of every column entry that read
// input element (n, c, h, w), added in row-major kernel-offset order (i, j), the order of
// backends/generic.py, so float32/float64 results match it bit for bit. `index` runs over
// (N, H, W, C) (channels-last output, the channel innermost like the columns it reads).
// Offset i reads row h from window oh when h + ph - i*dh = oh*sh with 0 <= oh < OH; the
// padded row only shrinks as i grows, so the loop stops once it is negative.
template <typename T>
__host__ __device__ __forceinline__ void col2im_at(
        long long index, const T* __restrict__ cols, T* __restrict__ x, long long C, long long H, long long W,
        ColumnStrides s, long long OH, long long OW, long long G, Window k) {
    const long long cg = C / G;
    long long rest, c, w, h, n;
    divmod(index, C, rest, c);
    divmod(rest, W, rest, w);
    divmod(rest, H, n, h);
    const long long g = c / cg;
    const T* base = cols + n * s.n + g * s.g + (c - g * cg) * s.c;
    typename acc<T>::type sum = 0;
    for (long long i = 0; i < k.kh; ++i) {
        const long long hp = h + k.ph - i * k.dh;
        if (hp < 0) break;
        long long oh;
        if (!window_at(hp, k.sh, OH, oh)) continue;
        for (long long j = 0; j < k.kw; ++j) {
            const long long wp = w + k.pw - j * k.dw;
            if (wp < 0) break;
            long long ow;
            if (!window_at(wp, k.sw, OW, ow)) continue;
            sum += to_acc(base[oh * s.oh + ow * s.ow + i * s.i + j * s.j]);
        }
    }
    x[index] = from_acc<T>(sum);
}

}  // namespace nyang

// cols: C-contiguous (N, OH, OW, G, kh, kw, C/G), total = its size; x: any strides.
template <typename T>
__global__ void __launch_bounds__(NYANG_THREADS)
im2col(const T* __restrict__ x, T* __restrict__ cols, long long total,
       long long C, long long H, long long W,
       long long sxn, long long sxc, long long sxh, long long sxw,
       long long OH, long long OW, long long G, long long kh, long long kw,
       long long sh, long long sw, long long ph, long long pw, long long dh, long long dw) {
    const nyang::Strides4 sx{sxn, sxc, sxh, sxw};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, dh, dw};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::im2col_at<T>(index, x, cols, C, H, W, sx, OH, OW, G, k);
}

// cols: (N, OH, OW, G, kh, kw, C/G) with strides s0..s6 (any); x: C-contiguous
// (N, H, W, C) (the (N, C, H, W) result is its channels-last view), total = its size.
template <typename T>
__global__ void __launch_bounds__(NYANG_THREADS)
col2im(const T* __restrict__ cols, T* __restrict__ x, long long total,
       long long C, long long H, long long W,
       long long s0, long long s1, long long s2, long long s3, long long s4, long long s5, long long s6,
       long long OH, long long OW, long long G, long long kh, long long kw,
       long long sh, long long sw, long long ph, long long pw, long long dh, long long dw) {
    const nyang::ColumnStrides s{s0, s1, s2, s3, s4, s5, s6};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, dh, dw};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::col2im_at<T>(index, cols, x, C, H, W, s, OH, OW, G, k);
}

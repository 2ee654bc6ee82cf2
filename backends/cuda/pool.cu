// 2-D max and average pooling, forward and backward, with PyTorch's semantics (see
// backends/generic.py: output sizes, -inf padding, first-maximum ties, NaN, the
// average-pool divisor). Backward kernels are gathers: one thread per input element
// sums the windows that cover it, in row-major kernel-offset order, so the result is
// deterministic and float32/float64 sums match backends/generic.py bit for bit.
//
// Outputs are C-contiguous in the order their linear index runs: (N, OH, OW, C) (or
// (N, H, W, C) for input gradients) when channels_last, else (N, C, OH, OW); the caller
// returns the (N, C, ., .) view. Inputs may have any strides.
#include "common.cuh"

namespace nyang {

// One output element of max pooling: the window's maximum and its offset i*kw + j.
// PyTorch's CPU scan: start from -inf with the first real (non-padding) element as the
// argmax, take v when v > best or v is NaN. So ties keep the first maximum, padding is
// never taken (it is skipped: it could never win), a later NaN replaces an earlier one,
// and a window whose real values are all -inf reports its first real element.
template <typename T, typename A>
__host__ __device__ __forceinline__ void max_pool2d_at(
        long long index, const T* __restrict__ x, T* __restrict__ out, A* __restrict__ argmax, long long C,
        long long H, long long W, Strides4 sx, long long OH, long long OW, Window k, long long channels_last) {
    typedef typename acc<T>::type F;
    long long n, c, oh, ow;
    unravel_nchw(index, C, OH, OW, channels_last, n, c, oh, ow);
    const long long h0 = oh * k.sh - k.ph, w0 = ow * k.sw - k.pw;
    const long long i0 = h0 < 0 ? (-h0 + k.dh - 1) / k.dh : 0;  // first offsets on real rows/columns
    const long long j0 = w0 < 0 ? (-w0 + k.dw - 1) / k.dw : 0;
    const T* base = x + n * sx.n + c * sx.c;
    F best = negative_infinity<F>();
    T best_value = from_acc<T>(best);
    long long arg = i0 * k.kw + j0;
    for (long long i = i0; i < k.kh; ++i) {
        const long long h = h0 + i * k.dh;
        if (h >= H) break;
        for (long long j = j0; j < k.kw; ++j) {
            const long long w = w0 + j * k.dw;
            if (w >= W) break;
            const T raw = base[h * sx.h + w * sx.w];
            const F v = to_acc(raw);
            if (v > best || is_nan(v)) {
                best = v;
                best_value = raw;
                arg = i * k.kw + j;
            }
        }
    }
    out[index] = best_value;
    argmax[index] = (A)arg;
}

// One input element's gradient: the sum of grad_out over the windows whose argmax is
// this element. Offset (i, j) of window (oh, ow) reads (h, w) when
// h + ph - i*dh = oh*sh and w + pw - j*dw = ow*sw.
template <typename T, typename A>
__host__ __device__ __forceinline__ void max_pool2d_backward_at(
        long long index, const T* __restrict__ grad_out, const A* __restrict__ argmax, T* __restrict__ grad_in,
        long long C, long long H, long long W, Strides4 sg, Strides4 sa, long long OH, long long OW, Window k,
        long long channels_last) {
    long long n, c, h, w;
    unravel_nchw(index, C, H, W, channels_last, n, c, h, w);
    const T* g = grad_out + n * sg.n + c * sg.c;
    const A* a = argmax + n * sa.n + c * sa.c;
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
            if ((long long)a[oh * sa.h + ow * sa.w] == i * k.kw + j) sum += to_acc(g[oh * sg.h + ow * sg.w]);
        }
    }
    grad_in[index] = from_acc<T>(sum);
}

// A window's share of the average-pool divisor along one axis (PyTorch's CPU rule, as
// backends/generic.avg_pool_divisors): the window clipped to the padded input, or to the
// input itself when padding does not count.
__host__ __device__ __forceinline__ long long avg_share(long long o, long long size, long long kernel,
                                                       long long stride, long long pad, long long include_pad) {
    long long start = o * stride - pad;
    long long end = start + kernel < size + pad ? start + kernel : size + pad;
    if (!include_pad) {
        start = start > 0 ? start : 0;
        end = end < size ? end : size;
    }
    return end - start;
}

template <typename F>
__host__ __device__ __forceinline__ F avg_divisor(long long oh, long long ow, long long H, long long W, Window k,
                                                  long long include_pad, long long divisor_override) {
    if (divisor_override) return (F)divisor_override;
    return (F)(avg_share(oh, H, k.kh, k.sh, k.ph, include_pad) * avg_share(ow, W, k.kw, k.sw, k.pw, include_pad));
}

// One output element of average pooling: the sum of the window's real elements (padding
// adds zero), in row-major order, divided by the divisor.
template <typename T>
__host__ __device__ __forceinline__ void avg_pool2d_at(
        long long index, const T* __restrict__ x, T* __restrict__ out, long long C, long long H, long long W,
        Strides4 sx, long long OH, long long OW, Window k, long long include_pad, long long divisor_override,
        long long channels_last) {
    typedef typename acc<T>::type F;
    long long n, c, oh, ow;
    unravel_nchw(index, C, OH, OW, channels_last, n, c, oh, ow);
    const long long h0 = oh * k.sh - k.ph, w0 = ow * k.sw - k.pw;
    const T* base = x + n * sx.n + c * sx.c;
    F sum = 0;
    for (long long i = h0 < 0 ? -h0 : 0; i < k.kh && h0 + i < H; ++i)
        for (long long j = w0 < 0 ? -w0 : 0; j < k.kw && w0 + j < W; ++j)
            sum += to_acc(base[(h0 + i) * sx.h + (w0 + j) * sx.w]);
    out[index] = from_acc<T>(sum / avg_divisor<F>(oh, ow, H, W, k, include_pad, divisor_override));
}

// One input element's gradient: the sum over the windows covering it of that window's
// grad_out / divisor, in row-major kernel-offset order.
template <typename T>
__host__ __device__ __forceinline__ void avg_pool2d_backward_at(
        long long index, const T* __restrict__ grad_out, T* __restrict__ grad_in, long long C, long long H,
        long long W, Strides4 sg, long long OH, long long OW, Window k, long long include_pad,
        long long divisor_override, long long channels_last) {
    typedef typename acc<T>::type F;
    long long n, c, h, w;
    unravel_nchw(index, C, H, W, channels_last, n, c, h, w);
    const T* g = grad_out + n * sg.n + c * sg.c;
    F sum = 0;
    for (long long i = 0; i < k.kh; ++i) {
        const long long hp = h + k.ph - i;
        if (hp < 0) break;
        long long oh;
        if (!window_at(hp, k.sh, OH, oh)) continue;
        for (long long j = 0; j < k.kw; ++j) {
            const long long wp = w + k.pw - j;
            if (wp < 0) break;
            long long ow;
            if (!window_at(wp, k.sw, OW, ow)) continue;
            sum += to_acc(g[oh * sg.h + ow * sg.w]) /
                   avg_divisor<F>(oh, ow, H, W, k, include_pad, divisor_override);
        }
    }
    grad_in[index] = from_acc<T>(sum);
}

}  // namespace nyang

// x: (N, C, H, W), any strides. out, argmax: (N, C, OH, OW) laid out as described at the
// top; total = N*C*OH*OW. A: unsigned char (kh*kw <= 256) or int.
template <typename T, typename A>
__global__ void __launch_bounds__(NYANG_THREADS)
max_pool2d(const T* __restrict__ x, T* __restrict__ out, A* __restrict__ argmax, long long total,
           long long C, long long H, long long W, long long sxn, long long sxc, long long sxh, long long sxw,
           long long OH, long long OW, long long kh, long long kw, long long sh, long long sw,
           long long ph, long long pw, long long dh, long long dw, long long channels_last) {
    const nyang::Strides4 sx{sxn, sxc, sxh, sxw};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, dh, dw};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::max_pool2d_at<T, A>(index, x, out, argmax, C, H, W, sx, OH, OW, k, channels_last);
}

// grad_out, argmax: (N, C, OH, OW), any strides each. grad_in: (N, C, H, W) laid out as
// described at the top; total = N*C*H*W.
template <typename T, typename A>
__global__ void __launch_bounds__(NYANG_THREADS)
max_pool2d_backward(const T* __restrict__ grad_out, const A* __restrict__ argmax, T* __restrict__ grad_in,
                    long long total, long long C, long long H, long long W,
                    long long sgn, long long sgc, long long sgh, long long sgw,
                    long long san, long long sac, long long sah, long long saw,
                    long long OH, long long OW, long long kh, long long kw, long long sh, long long sw,
                    long long ph, long long pw, long long dh, long long dw, long long channels_last) {
    const nyang::Strides4 sg{sgn, sgc, sgh, sgw}, sa{san, sac, sah, saw};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, dh, dw};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::max_pool2d_backward_at<T, A>(index, grad_out, argmax, grad_in, C, H, W, sg, sa, OH, OW, k,
                                            channels_last);
}

// x: (N, C, H, W), any strides. out: (N, C, OH, OW) laid out as described at the top;
// total = N*C*OH*OW. divisor_override: 0 for none.
template <typename T>
__global__ void __launch_bounds__(NYANG_THREADS)
avg_pool2d(const T* __restrict__ x, T* __restrict__ out, long long total,
           long long C, long long H, long long W, long long sxn, long long sxc, long long sxh, long long sxw,
           long long OH, long long OW, long long kh, long long kw, long long sh, long long sw,
           long long ph, long long pw, long long count_include_pad, long long divisor_override,
           long long channels_last) {
    const nyang::Strides4 sx{sxn, sxc, sxh, sxw};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, 1, 1};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::avg_pool2d_at<T>(index, x, out, C, H, W, sx, OH, OW, k, count_include_pad, divisor_override,
                                channels_last);
}

// grad_out: (N, C, OH, OW), any strides. grad_in: (N, C, H, W) laid out as described at
// the top; total = N*C*H*W. divisor_override: 0 for none.
template <typename T>
__global__ void __launch_bounds__(NYANG_THREADS)
avg_pool2d_backward(const T* __restrict__ grad_out, T* __restrict__ grad_in, long long total,
                    long long C, long long H, long long W, long long sgn, long long sgc, long long sgh,
                    long long sgw, long long OH, long long OW, long long kh, long long kw, long long sh,
                    long long sw, long long ph, long long pw, long long count_include_pad,
                    long long divisor_override, long long channels_last) {
    const nyang::Strides4 sg{sgn, sgc, sgh, sgw};
    const nyang::Window k{kh, kw, sh, sw, ph, pw, 1, 1};
    for (long long index = nyang::first_index(); index < total; index += nyang::index_step())
        nyang::avg_pool2d_backward_at<T>(index, grad_out, grad_in, C, H, W, sg, OH, OW, k, count_include_pad,
                                         divisor_override, channels_last);
}

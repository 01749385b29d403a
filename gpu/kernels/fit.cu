// Fit kernels for the render node: a decoded NVDEC surface (NV12 or P016)
// scaled, rotated, cropped or padded to one plane of the 1080x1920 I420
// output, on the device, so decoded frames never cross PCIe at their own
// size. All arithmetic is integer (16.16 fixed-point coordinates, 8-bit
// bilinear weights), so `scout_gpu::fit`'s CPU reference gives the same
// bytes; `gpu/kernels/build-ptx.sh` turns this file into fit.ptx.

typedef unsigned char u8;
typedef unsigned short u16;

__device__ __forceinline__ int clampi(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// One source sample: 8-bit, or the 10 high bits of a 16-bit word.
__device__ __forceinline__ int sample_at(const u8* src, int pitch, int bytes, int step,
                                         int offset, int x, int y) {
    const u8* row = src + (long long)y * pitch;
    if (bytes == 1) {
        return row[x * step + offset];
    }
    return ((const u16*)row)[x * step + offset] >> 6;
}

// Bilinear at (u, v) in 16.16 fixed point, clamped to the plane; the
// result scaled back to 8 bits with rounding.
__device__ __forceinline__ int bilinear(const u8* src, int pitch, int w, int h, int bytes,
                                        int step, int offset, long long u, long long v) {
    long long umax = (long long)(w - 1) << 16;
    long long vmax = (long long)(h - 1) << 16;
    u = u < 0 ? 0 : (u > umax ? umax : u);
    v = v < 0 ? 0 : (v > vmax ? vmax : v);
    int x0 = (int)(u >> 16);
    int y0 = (int)(v >> 16);
    int fx = (int)((u >> 8) & 255);
    int fy = (int)((v >> 8) & 255);
    int x1 = x0 + 1 < w ? x0 + 1 : x0;
    int y1 = y0 + 1 < h ? y0 + 1 : y0;
    int p00 = sample_at(src, pitch, bytes, step, offset, x0, y0);
    int p01 = sample_at(src, pitch, bytes, step, offset, x1, y0);
    int p10 = sample_at(src, pitch, bytes, step, offset, x0, y1);
    int p11 = sample_at(src, pitch, bytes, step, offset, x1, y1);
    int top = p00 * (256 - fx) + p01 * fx;
    int bot = p10 * (256 - fx) + p11 * fx;
    int val = top * (256 - fy) + bot * fy;
    int shift = bytes == 1 ? 16 : 18;
    return clampi((val + (1 << (shift - 1))) >> shift, 0, 255);
}

// dst(x, y) for every pixel of a dst_w x dst_h plane: inside the rect
// (rx, ry, rw, rh) the source at (u0 + x*dux + y*duy, v0 + x*dvx + y*dvy);
// outside it the background plane (bilinear, axis-aligned) or `fill`.
extern "C" __global__ void scout_fit_plane(
    const u8* __restrict__ src, int src_pitch, int src_w, int src_h, int src_bytes,
    int src_step, int src_offset,
    long long u0, long long dux, long long duy, long long v0, long long dvx, long long dvy,
    int rx, int ry, int rw, int rh,
    u8* __restrict__ dst, int dst_pitch, int dst_w, int dst_h,
    const u8* __restrict__ bg, int bg_pitch, int bg_w, int bg_h,
    long long bu0, long long bdux, long long bv0, long long bdvy,
    int fill) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h) {
        return;
    }
    int out;
    if (x >= rx && x < rx + rw && y >= ry && y < ry + rh) {
        long long u = u0 + (long long)x * dux + (long long)y * duy;
        long long v = v0 + (long long)x * dvx + (long long)y * dvy;
        out = bilinear(src, src_pitch, src_w, src_h, src_bytes, src_step, src_offset, u, v);
    } else if (bg != 0) {
        long long u = bu0 + (long long)x * bdux;
        long long v = bv0 + (long long)y * bdvy;
        out = bilinear(bg, bg_pitch, bg_w, bg_h, 1, 1, 0, u, v);
    } else {
        out = fill;
    }
    dst[(long long)y * dst_pitch + x] = (u8)out;
}

// One box-blur pass over an 8-bit plane, along rows (horizontal = 1) or
// columns, radius r, edges clamped, the mean rounded.
extern "C" __global__ void scout_box_blur(const u8* __restrict__ src, int src_pitch,
                                          u8* __restrict__ dst, int dst_pitch, int w, int h,
                                          int r, int horizontal) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) {
        return;
    }
    int sum = 0;
    for (int i = -r; i <= r; i++) {
        int sx = horizontal ? clampi(x + i, 0, w - 1) : x;
        int sy = horizontal ? y : clampi(y + i, 0, h - 1);
        sum += src[(long long)sy * src_pitch + sx];
    }
    int n = 2 * r + 1;
    dst[(long long)y * dst_pitch + x] = (u8)((sum + n / 2) / n);
}

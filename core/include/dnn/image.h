/* Images: files in and out (PNG through libpng, JPEG through libjpeg-turbo,
 * BMP/TGA/GIF/PSD/HDR/PNM/PIC through stb_image built in core/), image operations and a small raster canvas for plots.
 *
 * Layout is Keras's: an image is (H, W, C), a batch (N, H, W, C); the ops also
 * take a 2-d (H, W) gray image and return the rank they were given. Every op
 * runs one kernel over a batch (a single image is a batch of 1). They are data
 * operations: they record nothing for autodiff, and their results never need
 * grad. Inputs may be any view; results are new contiguous tensors. */
#ifndef DNN_IMAGE_H
#define DNN_IMAGE_H

#include <stdbool.h>

#include "dnn/tensor.h"

/* Largest image a loader accepts, in pixels (16384 x 16384), checked against
 * the header before anything is allocated. */
#define DNN_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

typedef enum dnn_interp { DNN_INTERP_BILINEAR, DNN_INTERP_NEAREST } dnn_interp;

/* What a warp reads outside the input, as Keras's preprocessing layers:
 * constant: fill value; nearest: the edge pixel (aaaa|abcd|dddd);
 * reflect: mirrored about the edge (dcba|abcd|dcba); wrap: tiled (abcd|abcd|abcd). */
typedef enum dnn_fill_mode { DNN_FILL_CONSTANT, DNN_FILL_NEAREST, DNN_FILL_REFLECT, DNN_FILL_WRAP } dnn_fill_mode;

/* ---- files ---- */

/* Reads an image file to an (H, W, C) float tensor. The format is detected by
 * its first bytes, not by the path's extension. channels: 0 keeps the file's
 * own count (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), else 1, 3 or 4 (gray is
 * the luma 0.299 R + 0.587 G + 0.114 B, as PIL's "L"; a missing alpha is 1).
 * Values are in [0, 1] (16-bit files scaled by 1/65535), or 0..255 when
 * uint8_range; HDR files give their linear values as stored. Dimensions are
 * checked against DNN_IMAGE_MAX_PIXELS and against what the file's size
 * could decode to before the pixels are allocated. Errors name the path. */
dnn_tensor *dnn_image_load(const char *path, int channels, bool uint8_range);

/* The same from `size` bytes in memory; `name` (may be NULL) stands for the
 * path in errors. The bytes are only read. */
dnn_tensor *dnn_image_load_memory(const void *bytes, size_t size, const char *name, int channels, bool uint8_range);

/* Writes a 2-d (H, W) gray or 3-d (H, W, C) image, C in 1..4, as an 8-bit
 * PNG: v -> round(255 * clamp(v, 0, 1)) (NaN -> 0). Written to a temporary
 * file beside path and renamed, so a failure never leaves half a file. */
dnn_status dnn_image_save_png(const dnn_tensor *img, const char *path);

/* ---- geometry ---- */

/* Resize to (h, w). Bilinear uses half-pixel centers as TF's
 * tf.image.resize (no antialias): src = (dst + 0.5) * in / out - 0.5, clamped
 * to the edge; nearest takes floor((dst + 0.5) * in / out). */
dnn_tensor *dnn_image_resize(const dnn_tensor *img, int64_t h, int64_t w, dnn_interp method);

/* The (h, w) window whose top-left pixel is (top, left), 0-based; the window
 * must lie inside the image. */
dnn_tensor *dnn_image_crop(const dnn_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w);

/* Adds top/bottom/left/right rows and columns of value around each image. */
dnn_tensor *dnn_image_pad(const dnn_tensor *img, int64_t top, int64_t bottom, int64_t left, int64_t right, float value);

/* out[y][x] = in[vertical ? H-1-y : y][horizontal ? W-1-x : x] */
dnn_tensor *dnn_image_flip(const dnn_tensor *img, bool horizontal, bool vertical);

/* The connected regions of a 2-d (H, W) mask's nonzero pixels, connectivity
 * 4 (edges) or 8 (edges and corners), as scikit-image's label and OpenCV's
 * connectedComponents: labels (H, W) with 0 on zero pixels and 1..*count,
 * numbered in the raster order of each region's first pixel; *boxes
 * (*count, 4) the regions' boxes (y1, x1, y2, x2), pixel edges from 0 (the
 * rows y1..y2-1 and columns x1..x2-1). */
dnn_tensor *dnn_image_connected_components(const dnn_tensor *mask, int connectivity, int64_t *count,
                                           dnn_tensor **boxes);

/* Affine warp: out(x, y) = in(m0 x + m1 y + m2, m3 x + m4 y + m5), with (x, y)
 * the output pixel's column and row (0-based, pixel centers at integers): the
 * matrix maps output coordinates to input coordinates, as Keras's
 * ImageProjectiveTransformV3 (its 8-vector without the projective terms).
 * matrices holds n_matrices 2x3 matrices row-major (6 floats each): one per
 * image of the batch, or one for all. out_h/out_w: the output size (0 keeps
 * the input's). Bilinear reads the 4 neighbours of the mapped point, each out
 * of range one through fill_mode (constant: fill). */
dnn_tensor *dnn_image_affine(const dnn_tensor *img, const float *matrices, int64_t n_matrices, int64_t out_h,
                             int64_t out_w, dnn_interp method, dnn_fill_mode fill_mode, float fill);

/* The 2x3 output->input matrix of a rotation by degrees counter-clockwise
 * (Keras's RandomRotation and PIL's Image.rotate direction) about the center
 * of an h x w image, as Keras builds it. */
void dnn_image_rotation_matrix(double degrees, int64_t h, int64_t w, float m[6]);

/* Rotation by degrees counter-clockwise about the center, same size. */
dnn_tensor *dnn_image_rotate(const dnn_tensor *img, double degrees, dnn_interp method, dnn_fill_mode fill_mode,
                             float fill);

/* ---- colour ---- */

/* out = in + delta, as tf.image.adjust_brightness (no clipping). */
dnn_tensor *dnn_image_adjust_brightness(const dnn_tensor *img, float delta);

/* out = (in - mean) * factor + mean, mean per image and channel over H and
 * W, as tf.image.adjust_contrast (no clipping). */
dnn_tensor *dnn_image_adjust_contrast(const dnn_tensor *img, float factor);

/* out = gray + factor * (in - gray) on RGB (alpha kept), gray the luma
 * 0.299 R + 0.587 G + 0.114 B, as PIL's ImageEnhance.Color (no clipping):
 * 0 gives gray, 1 the image, > 1 more saturated. Needs C = 3 or 4. */
dnn_tensor *dnn_image_adjust_saturation(const dnn_tensor *img, float factor);

/* Separable gaussian blur, kernel exp(-k^2 / (2 sigma^2)) normalised, k in
 * [-ceil(3 sigma), ceil(3 sigma)], edges clamped (the edge pixel repeats). */
dnn_tensor *dnn_image_gaussian_blur(const dnn_tensor *img, double sigma);

/* out[..., c] = (in[..., c] - mean[c]) / std[c]; mean and std have C entries
 * (or 1, for every channel). */
dnn_tensor *dnn_image_normalize(const dnn_tensor *img, const float *mean, int n_mean, const float *std, int n_std);

/* ---- grids ---- */

/* One image of a batch, as torchvision's make_grid: batch (N, H, W, C) or
 * (N, H, W); min(nrow, N) images per row, ceil(N / that) rows, padding pixels
 * of pad_value around and between them: the result is
 * (rows * (H + padding) + padding, cols * (W + padding) + padding, C).
 * normalize maps [min, max] of the batch (of each image with scale_each) to
 * [0, 1] (a constant image becomes 0). */
dnn_tensor *dnn_image_grid(const dnn_tensor *batch, int64_t nrow, int64_t padding, float pad_value, bool normalize,
                           bool scale_each);

/* ---- drawing on an (H, W, 3) canvas, for plots ----
 * Coordinates are pixels, (0, 0) the top-left corner, x to the right, y
 * down; what falls outside the canvas is clipped. Colours are 3 floats. */

/* A line of the given width (pixels); dash > 0 draws dash pixels on, dash
 * off. */
dnn_status dnn_draw_line(dnn_tensor *canvas, double x0, double y0, double x1, double y1, const float rgb[3],
                         double width, int dash);

/* A rectangle with top-left (x, y); filled, or its 1-pixel outline. */
dnn_status dnn_draw_rect(dnn_tensor *canvas, double x, double y, double w, double h, const float rgb[3], bool filled);

/* Text in the built-in 5x7 ASCII font (6x8 cells, each pixel scale x scale),
 * its top-left corner at (x, y); vertical turns it a quarter
 * counter-clockwise (a y-axis label, read bottom to top) and (x, y) is then
 * its bottom-left corner.
 * Bytes outside printable ASCII draw as '?'. */
dnn_status dnn_draw_text(dnn_tensor *canvas, double x, double y, const char *text, const float rgb[3], int scale,
                         bool vertical);

/* Width in pixels of text drawn at scale (its height is 8 * scale, with the
 * cell's blank row). */
int dnn_text_width(const char *text, int scale);

#endif

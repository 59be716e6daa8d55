/* Image files and ops: known answers on small hand-made images, PNG round
 * trips, every malformed file we could make by hand, and the drawing
 * primitives. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "dnn/dnn.h"
#include "temp_files.h"

static dnn_tensor *from(const float *v, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t shape[4] = {a, b, c, d};
  return dnn_from_data(v, ndim, shape);
}

/* Every element of t against want (n values), within tol. */
static void check_values(const dnn_tensor *t, const float *want, int64_t n, double tol, int line) {
  CHECK(t != NULL);
  if (!t) return;
  CHECK(dnn_numel(t) == n);
  if (dnn_numel(t) != n) return;
  float *got = malloc(sizeof(float) * (size_t)n);
  dnn_gather_to(t, got);
  for (int64_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= tol)) {
      check_failures++;
      fprintf(stderr, "line %d: element %lld = %.6g, expected %.6g\n", line, (long long)i, got[i], want[i]);
      break;
    }
  check_count++;
  free(got);
}
#define CHECK_VALUES(t, want, tol) check_values(t, want, (int64_t)(sizeof(want) / sizeof(want[0])), tol, __LINE__)

static bool error_has(const char *needle) { return strstr(dnn_errmsg(), needle) != NULL; }

static void test_resize(void) {
  /* 2x2 -> 4x4 bilinear with half-pixel centers (tf.image.resize): source
   * rows/cols -0.25, 0.25, 0.75, 1.25 clamped to 0, 0.25, 0.75, 1. */
  float v[4] = {0, 1, 1, 0};
  dnn_tensor *img = from(v, 2, 2, 2, 0, 0);
  dnn_tensor *up = dnn_image_resize(img, 4, 4, DNN_INTERP_BILINEAR);
  float want[16] = {0, 0.25f, 0.75f, 1, 0.25f, 0.375f, 0.625f, 0.75f, 0.75f, 0.625f, 0.375f, 0.25f, 1, 0.75f, 0.25f, 0};
  CHECK_VALUES(up, want, 1e-6);
  CHECK(up && up->ndim == 2 && up->shape[0] == 4 && up->shape[1] == 4);
  dnn_tensor *near = dnn_image_resize(img, 4, 4, DNN_INTERP_NEAREST);
  float want_near[16] = {0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0};
  CHECK_VALUES(near, want_near, 0);
  /* 4x4 -> 2x2: source 0.5 and 2.5, the mean of each 2x2 block. */
  float v4[16];
  for (int i = 0; i < 16; i++) v4[i] = (float)i;
  dnn_tensor *big = from(v4, 3, 4, 4, 1, 0);
  dnn_tensor *down = dnn_image_resize(big, 2, 2, DNN_INTERP_BILINEAR);
  float want_down[4] = {2.5f, 4.5f, 10.5f, 12.5f};
  CHECK_VALUES(down, want_down, 1e-5);
  CHECK(down && down->ndim == 3 && down->shape[2] == 1);
  /* A batch gives each image what it gives alone (RGB: channels independent). */
  float vb[2 * 2 * 2 * 3];
  for (int i = 0; i < 24; i++) vb[i] = (float)((i * 7) % 11);
  dnn_tensor *batch = from(vb, 4, 2, 2, 2, 3);
  dnn_tensor *rb = dnn_image_resize(batch, 3, 5, DNN_INTERP_BILINEAR);
  CHECK(rb && rb->ndim == 4 && rb->shape[0] == 2 && rb->shape[1] == 3 && rb->shape[2] == 5 && rb->shape[3] == 3);
  for (int b = 0; b < 2 && rb; b++) {
    dnn_tensor *one = from(vb + b * 12, 3, 2, 2, 3, 0);
    dnn_tensor *r1 = dnn_image_resize(one, 3, 5, DNN_INTERP_BILINEAR);
    check_values(r1, dnn_data(rb) + b * 45, 45, 1e-6, __LINE__);
    dnn_tensor_release(one);
    dnn_tensor_release(r1);
  }
  /* Errors */
  CHECK(dnn_image_resize(img, 0, 3, DNN_INTERP_BILINEAR) == NULL && error_has("1x1"));
  int64_t s5[5] = {1, 1, 1, 1, 1};
  dnn_tensor *five = dnn_zeros(5, s5);
  CHECK(dnn_image_resize(five, 2, 2, DNN_INTERP_BILINEAR) == NULL && error_has("5-d"));
  dnn_tensor *objs[] = {img, up, near, big, down, batch, rb, five};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

static void test_geometry(void) {
  /* 2x3 image, 2 channels: value = 10 * (row * 3 + col) + channel */
  float v[12];
  for (int i = 0; i < 6; i++) v[2 * i] = 10.0f * i, v[2 * i + 1] = 10.0f * i + 1;
  dnn_tensor *img = from(v, 3, 2, 3, 2, 0);
  dnn_tensor *c = dnn_image_crop(img, 1, 1, 1, 2);
  float want_crop[4] = {40, 41, 50, 51};
  CHECK_VALUES(c, want_crop, 0);
  CHECK(dnn_image_crop(img, 1, 2, 2, 2) == NULL && error_has("outside"));
  dnn_tensor *p = dnn_image_pad(img, 1, 0, 0, 1, -1);
  CHECK(p && p->shape[0] == 3 && p->shape[1] == 4 && p->shape[2] == 2);
  float want_pad[24] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 10, 11, 20, 21, -1, -1, 30, 31, 40, 41, 50, 51, -1, -1};
  CHECK_VALUES(p, want_pad, 0);
  CHECK(dnn_image_pad(img, -1, 0, 0, 0, 0) == NULL);
  dnn_tensor *fh = dnn_image_flip(img, true, false), *fv = dnn_image_flip(img, false, true);
  float want_fh[12] = {20, 21, 10, 11, 0, 1, 50, 51, 40, 41, 30, 31};
  float want_fv[12] = {30, 31, 40, 41, 50, 51, 0, 1, 10, 11, 20, 21};
  CHECK_VALUES(fh, want_fh, 0);
  CHECK_VALUES(fv, want_fv, 0);
  /* Rotations by quarter turns move pixels exactly (counter-clockwise). */
  float sq[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  dnn_tensor *s = from(sq, 2, 3, 3, 0, 0);
  dnn_tensor *r90 = dnn_image_rotate(s, 90, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0);
  float want90[9] = {3, 6, 9, 2, 5, 8, 1, 4, 7};
  CHECK_VALUES(r90, want90, 1e-6);
  dnn_tensor *r180 = dnn_image_rotate(s, 180, DNN_INTERP_NEAREST, DNN_FILL_CONSTANT, 0);
  float want180[9] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  CHECK_VALUES(r180, want180, 0);
  dnn_tensor *rm90 = dnn_image_rotate(s, -90, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0);
  float want_m90[9] = {7, 4, 1, 8, 5, 2, 9, 6, 3};
  CHECK_VALUES(rm90, want_m90, 1e-6);
  /* 180 degrees of a non-square image is both flips. */
  dnn_tensor *r2 = dnn_image_rotate(img, 180, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0);
  float want_r2[12] = {50, 51, 40, 41, 30, 31, 20, 21, 10, 11, 0, 1};
  CHECK_VALUES(r2, want_r2, 1e-5);
  /* 45 degrees: the center stays, corners come from outside (fill). */
  dnn_tensor *r45 = dnn_image_rotate(s, 45, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, -7);
  /* Top-left reads (1, 1 - sqrt 2): between the fill above and pixel (0, 1). */
  double ay = 1 - sqrt(2.0) + 1;
  CHECK(r45 && fabs(dnn_data(r45)[4] - 5) < 1e-5 && fabs(dnn_data(r45)[0] - (-7 + 9 * ay)) < 1e-5);
  CHECK(dnn_image_rotate(s, NAN, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0) == NULL);
  dnn_tensor *objs[] = {img, c, p, fh, fv, s, r90, r180, rm90, r2, r45};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

static void test_affine(void) {
  /* A row a b c d shifted: x_in = x - 2, so outputs read -2, -1, 0, 1. */
  float row[4] = {1, 2, 3, 4};
  dnn_tensor *img = from(row, 2, 1, 4, 0, 0);
  float shift[6] = {1, 0, -2, 0, 1, 0};
  struct {
    dnn_fill_mode mode;
    float want[4];
  } cases[] = {{DNN_FILL_CONSTANT, {9, 9, 1, 2}},
               {DNN_FILL_NEAREST, {1, 1, 1, 2}},
               {DNN_FILL_REFLECT, {2, 1, 1, 2}},
               {DNN_FILL_WRAP, {3, 4, 1, 2}}};
  for (int i = 0; i < 4; i++)
    for (int m = 0; m < 2; m++) {
      dnn_tensor *o =
          dnn_image_affine(img, shift, 1, 0, 0, m ? DNN_INTERP_NEAREST : DNN_INTERP_BILINEAR, cases[i].mode, 9);
      check_values(o, cases[i].want, 4, 1e-6, __LINE__);
      dnn_tensor_release(o);
    }
  /* Half a pixel: bilinear averages neighbours; constant mode mixes in the
   * fill at the edge, as TensorFlow does. */
  float half[6] = {1, 0, 0.5f, 0, 1, 0};
  dnn_tensor *h = dnn_image_affine(img, half, 1, 0, 0, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0);
  float want_half[4] = {1.5f, 2.5f, 3.5f, 2};
  CHECK_VALUES(h, want_half, 1e-6);
  /* One matrix per image of a batch; an output size of its own. */
  float two[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  dnn_tensor *b = from(two, 4, 2, 1, 4, 1);
  float ms[12] = {1, 0, 0, 0, 1, 0, -1, 0, 3, 0, 1, 0};
  dnn_tensor *ob = dnn_image_affine(b, ms, 2, 1, 3, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0);
  float want_b[6] = {1, 2, 3, 8, 7, 6};
  CHECK_VALUES(ob, want_b, 1e-6);
  CHECK(ob && ob->shape[0] == 2 && ob->shape[1] == 1 && ob->shape[2] == 3 && ob->shape[3] == 1);
  CHECK(dnn_image_affine(b, ms, 3, 0, 0, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 0) == NULL &&
        error_has("1 or 2 matrices"));
  /* A matrix sending everything far away (or NaN) reads fill, no crash. */
  float far[6] = {1e30f, 0, 0, 0, NAN, 0};
  dnn_tensor *of = dnn_image_affine(img, far, 1, 0, 0, DNN_INTERP_BILINEAR, DNN_FILL_CONSTANT, 5);
  float want_far[4] = {5, 5, 5, 5};
  CHECK_VALUES(of, want_far, 0);
  dnn_tensor *objs[] = {img, h, b, ob, of};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

static void test_colour(void) {
  float v[6] = {0.2f, 0.4f, 0.6f, 0.0f, 1.0f, 0.5f}; /* 1x2 RGB */
  dnn_tensor *img = from(v, 3, 1, 2, 3, 0);
  dnn_tensor *br = dnn_image_adjust_brightness(img, 0.1f);
  float want_br[6] = {0.3f, 0.5f, 0.7f, 0.1f, 1.1f, 0.6f};
  CHECK_VALUES(br, want_br, 1e-6);
  dnn_tensor *ct = dnn_image_adjust_contrast(img, 2);
  /* channel means 0.1, 0.7, 0.55 */
  float want_ct[6] = {0.3f, 0.1f, 0.65f, -0.1f, 1.3f, 0.45f};
  CHECK_VALUES(ct, want_ct, 1e-6);
  dnn_tensor *gray = dnn_image_adjust_saturation(img, 0);
  float g0 = 0.299f * 0.2f + 0.587f * 0.4f + 0.114f * 0.6f, g1 = 0.587f + 0.114f * 0.5f;
  float want_gray[6] = {g0, g0, g0, g1, g1, g1};
  CHECK_VALUES(gray, want_gray, 1e-6);
  dnn_tensor *same = dnn_image_adjust_saturation(img, 1);
  CHECK_VALUES(same, v, 1e-6);
  dnn_tensor *g1c = from(v, 3, 1, 2, 1, 0);
  CHECK(dnn_image_adjust_saturation(g1c, 0.5f) == NULL && error_has("3 or 4"));
  float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.25f, 1};
  dnn_tensor *nm = dnn_image_normalize(img, mean, 3, std, 3);
  float want_nm[6] = {-0.6f, -0.4f, 0.1f, -1, 2, 0};
  CHECK_VALUES(nm, want_nm, 1e-6);
  CHECK(dnn_image_normalize(img, mean, 2, std, 3) == NULL && error_has("1 or 3 means"));
  float zero = 0;
  CHECK(dnn_image_normalize(img, mean, 1, &zero, 1) == NULL && error_has("std[1] is 0"));
  /* Blur: an impulse spreads into a symmetric kernel summing to 1; a
   * constant image stays constant (edges repeat). */
  float imp[49] = {0};
  imp[24] = 1;
  dnn_tensor *im = from(imp, 2, 7, 7, 0, 0);
  dnn_tensor *bl = dnn_image_gaussian_blur(im, 0.7);
  if (bl) {
    float *d = dnn_data(bl), sum = 0;
    for (int i = 0; i < 49; i++) sum += d[i];
    CHECK_NEAR(sum, 1, 1e-5);
    CHECK_NEAR(d[23], d[25], 1e-7);
    CHECK_NEAR(d[17], d[31], 1e-7);
    CHECK_NEAR(d[16], d[16 + 2], 1e-7);
    CHECK(d[24] > d[23] && d[23] > d[22]);
    double e1 = exp(-1 / (2 * 0.49)), k0 = 1 / (1 + 2 * e1 + 2 * exp(-4 / (2 * 0.49)) + 2 * exp(-9 / (2 * 0.49)));
    CHECK_NEAR(d[24], k0 * k0, 1e-6);
  }
  dnn_tensor *cst = dnn_full(3, (int64_t[]){5, 4, 2}, 0.3f);
  dnn_tensor *bc = dnn_image_gaussian_blur(cst, 2);
  CHECK_VALUES(bc, ((float[40]){0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f,
                                0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f,
                                0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f}),
               1e-6);
  CHECK(dnn_image_gaussian_blur(cst, 0) == NULL && error_has("sigma"));
  dnn_tensor *objs[] = {img, br, ct, gray, same, g1c, nm, im, bl, cst, bc};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

static void test_grid(void) {
  /* 3 images 2x2 gray, values 1, 2, 3; nrow 2, padding 1, pad value 0. */
  float v[12] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
  dnn_tensor *b = from(v, 3, 3, 2, 2, 0);
  dnn_tensor *g = dnn_image_grid(b, 2, 1, 0, false, false);
  CHECK(g && g->ndim == 3 && g->shape[0] == 7 && g->shape[1] == 7 && g->shape[2] == 1);
  float want[49] = {0,      0, 0, 0, 0, 0, 0, /**/ 0, 1, 1, 0, 2, 2, 0, /**/ 0, 1, 1, 0, 2, 2, 0,
                    /**/ 0, 0, 0, 0, 0, 0, 0,
                    /**/ 0, 3, 3, 0, 0, 0, 0, /**/ 0, 3, 3, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, 0, 0};
  CHECK_VALUES(g, want, 0);
  /* normalize: the batch's [1, 3] to [0, 1]; scale_each: each constant
   * image becomes 0 (torchvision's max(hi - lo, 1e-5)). */
  dnn_tensor *gn = dnn_image_grid(b, 8, 0, 0.5f, true, false);
  float want_n[12] = {0, 0, 0.5f, 0.5f, 1, 1, 0, 0, 0.5f, 0.5f, 1, 1};
  CHECK_VALUES(gn, want_n, 1e-6);
  CHECK(gn && gn->shape[0] == 2 && gn->shape[1] == 6);
  dnn_tensor *ge = dnn_image_grid(b, 8, 0, 0.5f, true, true);
  float want_e[12] = {0};
  CHECK_VALUES(ge, want_e, 0);
  dnn_tensor *b2 = from(v, 4, 1, 2, 3, 2);
  CHECK(dnn_image_grid(b2, 2, 1, 0, false, false) == NULL && error_has("1, 3 or 4 channels"));
  CHECK(dnn_image_grid(b, 0, 1, 0, false, false) == NULL && error_has("nrow"));
  dnn_tensor *objs[] = {b, g, gn, ge, b2};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

/* ---- files ---- */

static void test_round_trip(void) {
  /* Every 8-bit level survives save then load, for 1, 2, 3 and 4 channels. */
  for (int c = 1; c <= 4; c++) {
    int64_t shape[3] = {16, 16, c};
    dnn_tensor *t = dnn_empty(3, shape);
    float *d = dnn_data(t);
    for (int64_t i = 0; i < 256 * c; i++) d[i] = (float)((i * 37 + c) % 256) / 255.0f;
    char name[32];
    snprintf(name, sizeof name, "rt%d.png", c);
    const char *path = temp_path(name);
    CHECK(dnn_image_save_png(t, path) == DNN_OK);
    dnn_tensor *back = dnn_image_load(path, 0, false);
    CHECK(back && back->ndim == 3 && back->shape[2] == c);
    check_values(back, d, 256 * c, 1e-7, __LINE__);
    dnn_tensor *b255 = dnn_image_load(path, 0, true);
    if (b255) CHECK_NEAR(dnn_data(b255)[1], lrintf(d[1] * 255), 1e-4);
    dnn_tensor_release(t);
    dnn_tensor_release(back);
    dnn_tensor_release(b255);
  }
  /* Clamping and rounding to the nearest level; 2-d is gray. */
  float v[6] = {-0.5f, 1.7f, 0.5f, 0.501f / 255, 0.499f / 255 + 1.0f / 255, NAN};
  dnn_tensor *t = from(v, 2, 2, 3, 0, 0);
  const char *path = temp_path("clamp.png");
  CHECK(dnn_image_save_png(t, path) == DNN_OK);
  dnn_tensor *back = dnn_image_load(path, 0, true);
  float want[6] = {0, 255, 128, 1, 1, 0};
  CHECK_VALUES(back, want, 1e-4);
  CHECK(back && back->ndim == 3 && back->shape[2] == 1);
  /* Channel conversion on load. */
  float rgba[8] = {1, 0, 0, 0.4f, 0, 0, 1, 1};
  dnn_tensor *ct = from(rgba, 3, 1, 2, 4, 0);
  const char *pc = temp_path("rgba.png");
  CHECK(dnn_image_save_png(ct, pc) == DNN_OK);
  dnn_tensor *as_rgb = dnn_image_load(pc, 3, false), *as_gray = dnn_image_load(pc, 1, false);
  float want_rgb[6] = {1, 0, 0, 0, 0, 1}, want_gray[2] = {0.299f, 0.114f};
  CHECK_VALUES(as_rgb, want_rgb, 1e-6);
  CHECK_VALUES(as_gray, want_gray, 1e-6);
  dnn_tensor *g4 = dnn_image_load(path, 4, false);
  float want_g4[4] = {0, 0, 0, 1};
  CHECK(g4 && g4->shape[2] == 4);
  if (g4)
    for (int k = 0; k < 4; k++) CHECK_NEAR(dnn_data(g4)[k], want_g4[k], 1e-6); /* gray 0, opaque */
  CHECK(dnn_image_load(pc, 2, false) == NULL && error_has("channels 1, 3 or 4"));
  /* Saving refuses batches (pointing to grid) and odd channel counts. */
  dnn_tensor *batch = dnn_zeros(4, (int64_t[]){2, 2, 2, 3});
  CHECK(dnn_image_save_png(batch, temp_path("b.png")) == DNN_EARG && error_has("dnn.image.grid"));
  dnn_tensor *five = dnn_zeros(3, (int64_t[]){2, 2, 5});
  CHECK(dnn_image_save_png(five, temp_path("f.png")) == DNN_EARG && error_has("got 5"));
  CHECK(dnn_image_save_png(t, "/nonexistent-dir/x.png") == DNN_EIO && error_has("/nonexistent-dir/x.png"));
  CHECK(access("/nonexistent-dir/x.png", F_OK) != 0);
  dnn_tensor *objs[] = {t, back, ct, as_rgb, as_gray, g4, batch, five};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) dnn_tensor_release(objs[i]);
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
  p[3] = (unsigned char)v;
}

static void test_bad_files(void) {
  CHECK(dnn_image_load(temp_path("missing.png"), 0, false) == NULL && error_has("missing.png") &&
        error_has("cannot open"));
  CHECK(dnn_image_load(temp_dir, 0, false) == NULL && error_has("not a regular file") && error_has(temp_dir));
  const char *text = "hello, this is not an image\n";
  const char *tp = temp_write("text.png", (const unsigned char *)text, strlen(text));
  CHECK(dnn_image_load(tp, 0, false) == NULL && error_has("text.png") && error_has("not a PNG, JPEG") &&
        error_has("68 65 6c 6c"));
  const char *empty = temp_write("empty.jpg", NULL, 0);
  CHECK(dnn_image_load(empty, 0, false) == NULL && error_has("empty"));
  /* A real PNG, then cut short at several points. */
  int64_t shape[3] = {20, 30, 3};
  dnn_tensor *t = dnn_rand(3, shape);
  const char *good = temp_path("good.png");
  CHECK(dnn_image_save_png(t, good) == DNN_OK);
  FILE *f = fopen(good, "rb");
  unsigned char buf[8192];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) fclose(f);
  CHECK(n > 100 && n < sizeof buf);
  size_t cuts[] = {8, 20, 40, n / 2, n - 13};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "cut%zu.png", i);
    const char *p = temp_write(name, buf, cuts[i]);
    dnn_tensor *r = dnn_image_load(p, 0, false);
    CHECK(r == NULL && error_has(name) && error_has("PNG"));
    dnn_tensor_release(r);
  }
  /* The same PNG, wrongly named .jpg, loads by its content. */
  const char *misnamed = temp_write("really_png.jpg", buf, n);
  dnn_tensor *ok = dnn_image_load(misnamed, 0, false);
  CHECK(ok && ok->shape[0] == 20 && ok->shape[1] == 30 && ok->shape[2] == 3);
  /* Garbage in the middle of the image data: a CRC or zlib error. */
  unsigned char bad[8192];
  memcpy(bad, buf, n);
  for (size_t i = 60; i < n - 20; i += 7) bad[i] ^= 0x5a;
  const char *garbled = temp_write("garbled.png", bad, n);
  CHECK(dnn_image_load(garbled, 0, false) == NULL && error_has("garbled.png") && error_has("corrupt PNG"));
  /* A header declaring 100000 x 100000: refused before any allocation. */
  unsigned char huge[8 + 25 + 12];
  memcpy(huge, buf, 8);
  put32(huge + 8, 13);
  memcpy(huge + 12, "IHDR", 4);
  put32(huge + 16, 100000);
  put32(huge + 20, 100000);
  huge[24] = 8, huge[25] = 2, huge[26] = 0, huge[27] = 0, huge[28] = 0;
  put32(huge + 29, (uint32_t)crc32(0, huge + 12, 17));
  put32(huge + 33, 0);
  memcpy(huge + 37, "IDAT", 4);
  put32(huge + 41, (uint32_t)crc32(0, huge + 37, 4));
  const char *hp = temp_write("huge.png", huge, sizeof huge);
  CHECK(dnn_image_load(hp, 0, false) == NULL && error_has("huge.png") && error_has("100000x100000"));
  /* 4000 x 4000 is allowed in general, but not from a 45-byte file. */
  put32(huge + 16, 4000);
  put32(huge + 20, 4000);
  put32(huge + 29, (uint32_t)crc32(0, huge + 12, 17));
  const char *mp = temp_write("bigger_than_file.png", huge, sizeof huge);
  CHECK(dnn_image_load(mp, 0, false) == NULL && error_has("bigger_than_file.png") && error_has("compressed data"));
  /* A JPEG start followed by garbage. */
  unsigned char jpg[300] = {0xff, 0xd8, 0xff, 0xe0};
  for (int i = 4; i < 300; i++) jpg[i] = (unsigned char)(i * 131 + 7);
  const char *jp = temp_write("garbage.jpg", jpg, sizeof jpg);
  CHECK(dnn_image_load(jp, 0, false) == NULL && error_has("garbage.jpg") && error_has("corrupt JPEG"));
  /* A BMP header declaring 30000 x 30000 24-bit pixels in 60 bytes. */
  unsigned char bmp[60] = {'B', 'M'};
  bmp[10] = 54, bmp[14] = 40;
  bmp[18] = 0x30, bmp[19] = 0x75, bmp[22] = 0x30, bmp[23] = 0x75; /* 30000 = 0x7530 */
  bmp[26] = 1, bmp[28] = 24;
  const char *bp = temp_write("huge.bmp", bmp, sizeof bmp);
  CHECK(dnn_image_load(bp, 0, false) == NULL && error_has("huge.bmp") && error_has("30000x30000"));
  /* 10000 x 10000 is under the cap, but 60 bytes cannot hold it. */
  bmp[18] = 0x10, bmp[19] = 0x27, bmp[22] = 0x10, bmp[23] = 0x27;
  const char *bp2 = temp_write("short.bmp", bmp, sizeof bmp);
  CHECK(dnn_image_load(bp2, 0, false) == NULL && error_has("short.bmp") && error_has("60 bytes"));
  dnn_tensor_release(t);
  dnn_tensor_release(ok);
}

/* ---- drawing ---- */

static void test_draw(void) {
  dnn_tensor *cv = dnn_zeros(3, (int64_t[]){20, 40, 3});
  const float white[3] = {1, 1, 1};
  CHECK(dnn_draw_line(cv, 2, 5, 30, 5, white, 1, 0) == DNN_OK);
  float *d = dnn_data(cv);
  CHECK(d[(5 * 40 + 2) * 3] == 1 && d[(5 * 40 + 30) * 3] == 1 && d[(5 * 40 + 31) * 3] == 0 &&
        d[(6 * 40 + 10) * 3] == 0);
  /* Dashed: on 4, off 4. */
  CHECK(dnn_draw_line(cv, 0, 10, 15, 10, white, 1, 4) == DNN_OK);
  CHECK(d[(10 * 40 + 1) * 3] == 1 && d[(10 * 40 + 5) * 3] == 0 && d[(10 * 40 + 9) * 3] == 1);
  /* Lines and rectangles off the canvas are clipped. */
  CHECK(dnn_draw_line(cv, -100, -100, 1e6, 300, white, 3, 0) == DNN_OK);
  /* A line from inside to far outside still draws its inside part. */
  CHECK(dnn_draw_line(cv, 1, 18, 1e9, 18, white, 1, 0) == DNN_OK);
  CHECK(d[(18 * 40 + 1) * 3] == 1 && d[(18 * 40 + 20) * 3] == 1 && d[(17 * 40 + 20) * 3] == 0);
  CHECK(dnn_draw_rect(cv, 35, 15, 20, 20, white, true) == DNN_OK);
  CHECK(d[(19 * 40 + 39) * 3 + 2] == 1);
  dnn_tensor *tc = dnn_zeros(3, (int64_t[]){10, 40, 3});
  CHECK(dnn_draw_text(tc, 1, 1, "Hi 1", white, 1, false) == DNN_OK);
  float *e = dnn_data(tc);
  int lit = 0;
  for (int i = 0; i < 10 * 40; i++) lit += e[i * 3] > 0;
  /* H: 7 + 3 (bar) + 7, i: 9, 1: 10 pixels of the 5x7 font. */
  CHECK(lit == 17 + 9 + 10);
  CHECK(e[(1 * 40 + 1) * 3] == 1 && e[(1 * 40 + 5) * 3] == 1 && e[(4 * 40 + 3) * 3] == 1 && e[(2 * 40 + 3) * 3] == 0);
  CHECK(dnn_text_width("Hi 1", 1) == 23 && dnn_text_width("Hi 1", 2) == 46 && dnn_text_width("", 1) == 0);
  dnn_tensor *gray = dnn_zeros(2, (int64_t[]){4, 4});
  CHECK(dnn_draw_text(gray, 0, 0, "x", white, 1, false) == DNN_EARG && error_has("(H, W, 3)"));
  CHECK(dnn_draw_text(tc, 0, 0, "x", white, 0, false) == DNN_EARG && error_has("scale"));
  dnn_tensor_release(cv);
  dnn_tensor_release(tc);
  dnn_tensor_release(gray);
}

int main(void) {
  if (!temp_dir_make("image")) return 1;
  test_resize();
  test_geometry();
  test_affine();
  test_colour();
  test_grid();
  test_round_trip();
  test_bad_files();
  test_draw();
  temp_dir_remove();
  return check_report("test_image");
}

/* Tensors and views: creation, shared storage, shapes/strides/values of every
 * view op, copies, in-place writes, borrowed buffers, random creation, and
 * the gradients of the view ops. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

/* ---- creation ---- */

static void test_creation(void) {
  int64_t before = dnn_storage_bytes_live();
  dnn_tensor *z = dnn_zeros(2, (int64_t[]){3, 5});
  CHECK(has_shape(z, 2, (int64_t[]){3, 5}) && has_strides(z, (int64_t[]){5, 1}) && dnn_is_contiguous(z));
  CHECK(values_are(z, (float[15]){0}, 15));
  CHECK(((uintptr_t)dnn_data(z) % 16) == 0); /* small storage: 16-byte aligned, after its header */
  dnn_tensor *big = dnn_zeros(1, (int64_t[]){65});
  CHECK(((uintptr_t)dnn_data(big) % 64) == 0); /* above 64 floats: 64-byte aligned blocks */
  dnn_tensor_release(big);
  CHECK(dnn_storage_bytes_live() >= before + 15 * 4);
  dnn_tensor *f = dnn_full(1, (int64_t[]){3}, 2.5f);
  CHECK(values_are(f, (float[]){2.5f, 2.5f, 2.5f}, 3));
  dnn_tensor *s = dnn_scalar(4);
  CHECK(s && s->ndim == 0 && dnn_numel(s) == 1 && dnn_data(s)[0] == 4 && dnn_is_contiguous(s));
  dnn_tensor *e0 = dnn_empty(2, (int64_t[]){0, 4});
  CHECK(e0 && dnn_numel(e0) == 0);
  dnn_tensor *l = dnn_zeros_like(z);
  CHECK(has_shape(l, 2, (int64_t[]){3, 5}) && l->storage != z->storage);
  dnn_tensor *d = dnn_from_data((float[]){1, 2, 3, 4}, 2, (int64_t[]){2, 2});
  CHECK(values_are(d, (float[]){1, 2, 3, 4}, 4));
  RELEASE(z, f, s, e0, l, d);
  CHECK(dnn_storage_bytes_live() == before);

  /* bad shapes */
  CHECK(dnn_empty(2, (int64_t[]){2, -1}) == NULL && dnn_errcode() == DNN_EARG && errmsg_has(">= 0", "-1"));
  CHECK(dnn_empty(9, (int64_t[9]){1}) == NULL && errmsg_has("at most 8 dims"));
  CHECK(dnn_zeros(3, (int64_t[]){1 << 20, 1 << 20, 1 << 20}) == NULL && errmsg_has("2^40"));

  char buf[64];
  dnn_tensor *t = dnn_zeros(3, (int64_t[]){2, 1, 3});
  CHECK(strcmp(dnn_shape_str(t, buf, sizeof buf), "(2, 1, 3)") == 0);
  dnn_tensor *sc = dnn_scalar(0);
  CHECK(strcmp(dnn_shape_str(sc, buf, sizeof buf), "()") == 0);
  char tiny[4];
  dnn_shape_str(t, tiny, sizeof tiny); /* truncates, stays terminated */
  CHECK(strlen(tiny) < sizeof tiny);
  RELEASE(t, sc);
}

/* Large blocks are reused by the next tensor of about their size (the block
 * cache); sanitizer builds free them at once, so there the check is only that
 * the accounting and the values hold. */
#if defined(__SANITIZE_ADDRESS__)
#define BLOCKS_REUSED false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BLOCKS_REUSED false
#endif
#endif
#ifndef BLOCKS_REUSED
#define BLOCKS_REUSED true
#endif

static void test_block_reuse(void) {
  int64_t before = dnn_storage_bytes_live();
  dnn_tensor *a = dnn_full(2, (int64_t[]){512, 512}, 7);
  float *block = dnn_data(a);
  dnn_tensor_release(a);
  CHECK(dnn_storage_bytes_live() == before);
  dnn_tensor *b = dnn_zeros(2, (int64_t[]){500, 512}); /* within an eighth smaller: the same block, zeroed */
  CHECK(!BLOCKS_REUSED || dnn_data(b) == block);
  CHECK(dnn_data(b)[0] == 0 && dnn_data(b)[500 * 512 - 1] == 0);
  CHECK(dnn_storage_bytes_live() >= before + 500 * 512 * 4);
  dnn_tensor_release(b);
  CHECK(dnn_storage_bytes_live() == before);
  dnn_tensor *big = dnn_zeros(2, (int64_t[]){600, 512}); /* larger than the block: never it */
  CHECK(dnn_data(big) != block || !BLOCKS_REUSED);
  dnn_tensor *small = dnn_zeros(2, (int64_t[]){300, 512}); /* far smaller: not worth the waste */
  CHECK(dnn_data(small) != block || !BLOCKS_REUSED);
  RELEASE(big, small);
  CHECK(dnn_storage_bytes_live() == before);
}

static void test_ranges(void) {
  dnn_tensor *a = dnn_arange(0, 5, 1);
  CHECK(values_are(a, (float[]){0, 1, 2, 3, 4}, 5));
  dnn_tensor *b = dnn_arange(1, 2, 0.25);
  CHECK(values_are(b, (float[]){1, 1.25f, 1.5f, 1.75f}, 4));
  dnn_tensor *c = dnn_arange(5, 0, -2);
  CHECK(values_are(c, (float[]){5, 3, 1}, 3));
  dnn_tensor *e = dnn_arange(3, 3, 1);
  CHECK(e && dnn_numel(e) == 0);
  dnn_tensor *w = dnn_arange(3, 0, 1); /* wrong direction: empty */
  CHECK(w && dnn_numel(w) == 0);
  CHECK(dnn_arange(0, 1, 0) == NULL && errmsg_has("'arange'", "step"));
  CHECK(dnn_arange(0, 1e30, 1) == NULL && dnn_errcode() == DNN_EARG);

  dnn_tensor *l = dnn_linspace(0, 1, 5);
  CHECK(values_are(l, (float[]){0, 0.25f, 0.5f, 0.75f, 1}, 5));
  dnn_tensor *l1 = dnn_linspace(3, 7, 1);
  CHECK(values_are(l1, (float[]){3}, 1));
  dnn_tensor *l0 = dnn_linspace(3, 7, 0);
  CHECK(l0 && dnn_numel(l0) == 0);
  dnn_tensor *ld = dnn_linspace(1, -1, 3);
  CHECK(values_are(ld, (float[]){1, 0, -1}, 3));
  CHECK(dnn_linspace(0, 1, -1) == NULL && errmsg_has("'linspace'"));

  dnn_tensor *i = dnn_eye(2, 3);
  CHECK(has_shape(i, 2, (int64_t[]){2, 3}) && values_are(i, (float[]){1, 0, 0, 0, 1, 0}, 6));
  dnn_tensor *i3 = dnn_eye(3, 2);
  CHECK(values_are(i3, (float[]){1, 0, 0, 1, 0, 0}, 6));
  CHECK(dnn_eye(-1, 2) == NULL && errmsg_has("'eye'"));
  RELEASE(a, b, c, e, w, l, l1, l0, ld, i, i3);
}

static void test_random(void) {
  int64_t n = 100000;
  dnn_manual_seed(42);
  dnn_tensor *u1 = dnn_rand(1, &n);
  dnn_tensor *n1 = dnn_randn(1, &n);
  dnn_manual_seed(42);
  dnn_tensor *u2 = dnn_rand(1, &n);
  dnn_tensor *n2 = dnn_randn(1, &n);
  CHECK(memcmp(dnn_data(u1), dnn_data(u2), (size_t)n * 4) == 0);
  CHECK(memcmp(dnn_data(n1), dnn_data(n2), (size_t)n * 4) == 0);
  dnn_manual_seed(43);
  dnn_tensor *u3 = dnn_rand(1, &n);
  CHECK(memcmp(dnn_data(u1), dnn_data(u3), (size_t)n * 4) != 0);

  double su = 0, lo = 1, hi = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = dnn_data(u1)[i];
    su += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  CHECK(lo >= 0 && hi < 1);
  CHECK_NEAR(su / (double)n, 0.5, 0.01);
  double s = 0, s2 = 0;
  int beyond3 = 0;
  for (int64_t i = 0; i < n; i++) {
    double v = dnn_data(n1)[i];
    s += v;
    s2 += v * v;
    if (fabs(v) > 3) beyond3++;
  }
  double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
  CHECK_NEAR(mean, 0, 0.02);
  CHECK_NEAR(sd, 1, 0.02);
  CHECK(beyond3 > 100 && beyond3 < 450); /* 0.27% expected: 270 */

  /* the state round-trips, spare normal included */
  dnn_rng_state st;
  (void)dnn_rng_normal(); /* leaves a spare */
  dnn_rng_get_state(&st);
  double x1 = dnn_rng_normal(), x2 = dnn_rng_normal();
  dnn_rng_set_state(&st);
  CHECK(dnn_rng_normal() == x1 && dnn_rng_normal() == x2);
  /* rng_below stays in range and hits every value */
  int seen[7] = {0}, outside = 0;
  for (int i = 0; i < 7000; i++) {
    uint64_t r = dnn_rng_below(7);
    if (r < 7)
      seen[r]++;
    else
      outside++;
  }
  CHECK(outside == 0);
  for (int i = 0; i < 7; i++) CHECK(seen[i] > 800 && seen[i] < 1200);
  CHECK(dnn_rng_below(0) == 0 && dnn_rng_below(1) == 0);
  RELEASE(u1, n1, u2, n2, u3);
}

static int released_calls;
static float *released_data;
static void on_release(void *ctx, float *data) {
  released_calls += *(int *)ctx;
  released_data = data;
}

static void test_from_buffer(void) {
  float buf[6] = {1, 2, 3, 4, 5, 6};
  int one = 1;
  dnn_tensor *t = dnn_from_buffer(buf, 2, (int64_t[]){2, 3}, on_release, &one);
  CHECK(t && dnn_data(t) == buf && values_are(t, buf, 6));
  dnn_tensor *v = dnn_transpose(t, 0, 1); /* views keep the buffer alive */
  buf[1] = 20; /* no copy: the caller's writes show */
  CHECK(dnn_data(v)[v->stride[0]] == 20);
  dnn_tensor_release(t);
  CHECK(released_calls == 0);
  dnn_tensor_release(v);
  CHECK(released_calls == 1 && released_data == buf);

  /* without a callback the caller keeps the buffer; nothing is freed */
  dnn_tensor *k = dnn_from_buffer(buf, 1, (int64_t[]){6}, NULL, NULL);
  CHECK(k && values_are(k, (float[]){1, 20, 3, 4, 5, 6}, 6));
  dnn_tensor_release(k);
  CHECK(released_calls == 1 && buf[5] == 6);

  CHECK(dnn_from_buffer(NULL, 1, (int64_t[]){1}, NULL, NULL) == NULL && errmsg_has("'from_buffer'", "NULL"));
  CHECK(dnn_from_buffer(buf, 1, (int64_t[]){-2}, NULL, NULL) == NULL && errmsg_has("'from_buffer'"));
}

/* ---- views ---- */

static void test_shared_storage(void) {
  dnn_tensor *a = iota(2, (int64_t[]){3, 4});
  dnn_tensor *v = dnn_view(a, 1, (int64_t[]){12});
  dnn_tensor *n = dnn_narrow(a, 1, 1, 2);
  dnn_tensor *s = dnn_select(a, 0, 2);
  dnn_tensor *t = dnn_transpose(a, 0, 1);
  CHECK(v->storage == a->storage && n->storage == a->storage && s->storage == a->storage && t->storage == a->storage);
  dnn_data(v)[5] = 100; /* a[1][1] */
  CHECK(dnn_data(a)[5] == 100);
  CHECK(dnn_data(n)[n->stride[0] * 1 + 0] == 100); /* n[1][0] = a[1][1] */
  CHECK(dnn_data(t)[1 * t->stride[0] + 1 * t->stride[1]] == 100);
  CHECK(dnn_fill(s, -1) == DNN_OK); /* writes row 2 of a */
  CHECK(values_are(a, (float[]){0, 1, 2, 3, 4, 100, 6, 7, -1, -1, -1, -1}, 12));
  /* the storage outlives the base */
  dnn_tensor_release(a);
  CHECK(values_are(s, (float[]){-1, -1, -1, -1}, 4));
  RELEASE(v, n, s, t);
}

static void test_view_reshape(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 6});
  dnn_tensor *v = dnn_view(a, 3, (int64_t[]){3, -1, 2});
  CHECK(has_shape(v, 3, (int64_t[]){3, 2, 2}) && has_strides(v, (int64_t[]){4, 2, 1}));
  CHECK(dnn_view(a, 0, NULL) == NULL && errmsg_has("'view'", "12")); /* 12 elements into a scalar */
  CHECK(dnn_view(a, 2, (int64_t[]){-1, -1}) == NULL && errmsg_has("'view'", "-1"));
  CHECK(dnn_view(a, 2, (int64_t[]){5, -1}) == NULL && errmsg_has("'view'"));
  CHECK(dnn_view(a, 2, (int64_t[]){3, 3}) == NULL && errmsg_has("'view'", "12"));
  CHECK(dnn_view(a, 1, (int64_t[]){-3}) == NULL && errmsg_has("'view'"));

  /* a non-contiguous tensor: view errors, reshape copies */
  dnn_tensor *t = dnn_transpose(a, 0, 1); /* (6, 2) */
  CHECK(dnn_view(t, 1, (int64_t[]){12}) == NULL && dnn_errcode() == DNN_EARG && errmsg_has("'view'", "reshape"));
  dnn_tensor *r = dnn_reshape(t, 1, (int64_t[]){12});
  CHECK(r && r->storage != a->storage && dnn_is_contiguous(r));
  CHECK(values_are(r, (float[]){0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}, 12));
  /* ... unless the layout allows a view: splitting a transposed dim */
  dnn_tensor *r2 = dnn_reshape(t, 3, (int64_t[]){2, 3, 2});
  CHECK(r2 && r2->storage == a->storage && has_strides(r2, (int64_t[]){3, 1, 6}));
  CHECK(values_are(r2, (float[]){0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}, 12));
  /* a narrowed tensor: merging its rows needs a copy, splitting does not */
  dnn_tensor *n = dnn_narrow(a, 1, 1, 4); /* (2, 4) strides (6, 1) */
  CHECK(dnn_view(n, 1, (int64_t[]){8}) == NULL);
  dnn_tensor *n2 = dnn_view(n, 3, (int64_t[]){2, 2, 2});
  CHECK(n2 && has_strides(n2, (int64_t[]){6, 2, 1}) && values_are(n2, (float[]){1, 2, 3, 4, 7, 8, 9, 10}, 8));
  /* size-1 dims anywhere */
  dnn_tensor *u = dnn_view(n, 4, (int64_t[]){1, 2, 1, 4});
  CHECK(u && values_are(u, (float[]){1, 2, 3, 4, 7, 8, 9, 10}, 8));
  /* scalars and empties */
  dnn_tensor *sc = dnn_scalar(3);
  dnn_tensor *sv = dnn_view(sc, 2, (int64_t[]){1, 1});
  CHECK(has_shape(sv, 2, (int64_t[]){1, 1}) && dnn_data(sv)[0] == 3);
  dnn_tensor *back = dnn_view(sv, 0, NULL);
  CHECK(back && back->ndim == 0);
  dnn_tensor *e = dnn_zeros(2, (int64_t[]){0, 3});
  dnn_tensor *ev = dnn_view(e, 3, (int64_t[]){3, 0, 5});
  CHECK(has_shape(ev, 3, (int64_t[]){3, 0, 5}));
  RELEASE(a, v, t, r, r2, n, n2, u, sc, sv, back, e, ev);
}

static void test_transpose_permute(void) {
  dnn_tensor *a = iota(3, (int64_t[]){2, 3, 4});
  dnn_tensor *t = dnn_transpose(a, 0, 2);
  CHECK(has_shape(t, 3, (int64_t[]){4, 3, 2}) && has_strides(t, (int64_t[]){1, 4, 12}) && !dnn_is_contiguous(t));
  dnn_tensor *tn = dnn_transpose(a, -1, -2);
  CHECK(has_shape(tn, 3, (int64_t[]){2, 4, 3}) && has_strides(tn, (int64_t[]){12, 1, 4}));
  CHECK(tn && dnn_data(tn)[1 * 12 + 3 * 1 + 2 * 4] == 1 * 12 + 2 * 4 + 3); /* tn[1][3][2] = a[1][2][3] */
  dnn_tensor *p = dnn_permute(a, (int[]){1, 2, 0});
  CHECK(has_shape(p, 3, (int64_t[]){3, 4, 2}) && has_strides(p, (int64_t[]){4, 1, 12}));
  dnn_tensor *pc = dnn_contiguous(p);
  CHECK(pc && pc != p && dnn_is_contiguous(pc));
  CHECK(pc && dnn_data(pc)[0] == 0 && dnn_data(pc)[1] == 12 && dnn_data(pc)[2] == 1 && dnn_data(pc)[8] == 4);
  dnn_tensor *same = dnn_contiguous(a);
  CHECK(same == a);
  dnn_tensor_release(same);
  dnn_tensor *id = dnn_transpose(a, 1, 1);
  CHECK(id && has_strides(id, (int64_t[]){12, 4, 1}));
  CHECK(dnn_transpose(a, 0, 3) == NULL && errmsg_has("#3 to 'transpose'", "dim"));
  CHECK(dnn_transpose(a, -4, 0) == NULL && errmsg_has("#2 to 'transpose'", "dim"));
  CHECK(dnn_permute(a, (int[]){0, 0, 1}) == NULL && errmsg_has("'permute'", "permutation"));
  CHECK(dnn_permute(a, (int[]){0, 1, 3}) == NULL && errmsg_has("'permute'"));
  RELEASE(a, t, tn, p, pc, id);
}

static void test_narrow_select(void) {
  dnn_tensor *a = iota(2, (int64_t[]){4, 5});
  dnn_tensor *n = dnn_narrow(a, 0, 1, 2);
  CHECK(has_shape(n, 2, (int64_t[]){2, 5}) && n->offset == 5 && dnn_is_contiguous(n));
  dnn_tensor *n1 = dnn_narrow(a, -1, 2, 3);
  CHECK(has_shape(n1, 2, (int64_t[]){4, 3}) && n1->offset == 2 && has_strides(n1, (int64_t[]){5, 1}));
  CHECK(values_are(n1, (float[]){2, 3, 4, 7, 8, 9, 12, 13, 14, 17, 18, 19}, 12));
  dnn_tensor *n0 = dnn_narrow(a, 0, 4, 0); /* empty at the end is fine */
  CHECK(has_shape(n0, 2, (int64_t[]){0, 5}));
  dnn_tensor *nn = dnn_narrow(n1, 0, 1, 2); /* narrow of a narrow */
  CHECK(values_are(nn, (float[]){7, 8, 9, 12, 13, 14}, 6));
  CHECK(dnn_narrow(a, 0, 3, 2) == NULL && errmsg_has("#4 to 'narrow'", "exceeds"));
  CHECK(dnn_narrow(a, 0, -1, 1) == NULL && errmsg_has("#3 to 'narrow'"));
  CHECK(dnn_narrow(a, 0, 5, 0) == NULL && errmsg_has("#3 to 'narrow'"));
  CHECK(dnn_narrow(a, 2, 0, 1) == NULL && errmsg_has("#2 to 'narrow'"));

  dnn_tensor *s = dnn_select(a, 1, 3);
  CHECK(has_shape(s, 1, (int64_t[]){4}) && has_strides(s, (int64_t[]){5}) && s->offset == 3);
  CHECK(values_are(s, (float[]){3, 8, 13, 18}, 4));
  dnn_tensor *ss = dnn_select(s, 0, 2);
  CHECK(ss && ss->ndim == 0 && dnn_data(ss)[0] == 13);
  dnn_tensor *sl = dnn_select(a, -2, 3);
  CHECK(values_are(sl, (float[]){15, 16, 17, 18, 19}, 5));
  CHECK(dnn_select(a, 0, 4) == NULL && errmsg_has("#3 to 'select'", "out of range"));
  CHECK(dnn_select(a, 0, -1) == NULL && errmsg_has("#3 to 'select'"));
  CHECK(dnn_select(ss, 0, 0) == NULL && errmsg_has("#1 to 'select'", "0-d"));
  RELEASE(a, n, n1, n0, nn, s, ss, sl);
}

static void test_expand_squeeze(void) {
  dnn_tensor *a = iota(2, (int64_t[]){3, 1});
  dnn_tensor *e = dnn_expand(a, 3, (int64_t[]){2, 3, 4});
  CHECK(has_shape(e, 3, (int64_t[]){2, 3, 4}) && has_strides(e, (int64_t[]){0, 1, 0}));
  CHECK(values_are(e, (float[]){0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, 24));
  dnn_tensor *k = dnn_expand(a, 2, (int64_t[]){-1, 2});
  CHECK(has_shape(k, 2, (int64_t[]){3, 2}) && values_are(k, (float[]){0, 0, 1, 1, 2, 2}, 6));
  CHECK(dnn_expand(a, 2, (int64_t[]){4, 1}) == NULL && errmsg_has("'expand'", "3"));
  CHECK(dnn_expand(a, 1, (int64_t[]){3}) == NULL && errmsg_has("'expand'"));
  CHECK(dnn_expand(a, 3, (int64_t[]){-1, 3, 1}) == NULL && errmsg_has("'expand'"));

  dnn_tensor *b = iota(4, (int64_t[]){1, 3, 1, 2});
  dnn_tensor *sq = dnn_squeeze(b, DNN_ALL_DIMS);
  CHECK(has_shape(sq, 2, (int64_t[]){3, 2}) && has_strides(sq, (int64_t[]){2, 1}));
  dnn_tensor *s2 = dnn_squeeze(b, 2);
  CHECK(has_shape(s2, 3, (int64_t[]){1, 3, 2}));
  dnn_tensor *s1 = dnn_squeeze(b, 1); /* not size 1: unchanged */
  CHECK(has_shape(s1, 4, (int64_t[]){1, 3, 1, 2}));
  dnn_tensor *sn = dnn_squeeze(b, -4);
  CHECK(has_shape(sn, 3, (int64_t[]){3, 1, 2}));
  CHECK(dnn_squeeze(b, 4) == NULL && errmsg_has("'squeeze'", "dim"));

  dnn_tensor *u0 = dnn_unsqueeze(sq, 0);
  CHECK(has_shape(u0, 3, (int64_t[]){1, 3, 2}) && u0->storage == b->storage);
  dnn_tensor *ul = dnn_unsqueeze(sq, -1);
  CHECK(has_shape(ul, 3, (int64_t[]){3, 2, 1}) && dnn_is_contiguous(ul));
  dnn_tensor *um = dnn_unsqueeze(sq, 1);
  CHECK(has_shape(um, 3, (int64_t[]){3, 1, 2}) && values_are(um, (float[]){0, 1, 2, 3, 4, 5}, 6));
  CHECK(dnn_unsqueeze(sq, 3) == NULL && errmsg_has("'unsqueeze'", "dim"));
  dnn_tensor *sc = dnn_scalar(1);
  dnn_tensor *us = dnn_unsqueeze(sc, 0);
  CHECK(has_shape(us, 1, (int64_t[]){1}));
  dnn_tensor *big = dnn_zeros(8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
  CHECK(dnn_unsqueeze(big, 0) == NULL && errmsg_has("'unsqueeze'", "8"));
  RELEASE(a, e, k, b, sq, s2, s1, sn, u0, ul, um, sc, us, big);
}

/* ---- copies and in-place writes ---- */

static void test_copy_fill(void) {
  dnn_tensor *d = dnn_zeros(2, (int64_t[]){2, 3});
  dnn_tensor *row = dnn_from_data((float[]){1, 2, 3}, 1, (int64_t[]){3});
  CHECK(dnn_copy(d, row) == DNN_OK); /* broadcast over rows */
  CHECK(values_are(d, (float[]){1, 2, 3, 1, 2, 3}, 6));
  dnn_tensor *col = dnn_from_data((float[]){7, 8}, 2, (int64_t[]){2, 1});
  CHECK(dnn_copy(d, col) == DNN_OK);
  CHECK(values_are(d, (float[]){7, 7, 7, 8, 8, 8}, 6));
  dnn_tensor *sc = dnn_scalar(5);
  CHECK(dnn_copy(d, sc) == DNN_OK && values_are(d, (float[]){5, 5, 5, 5, 5, 5}, 6));
  dnn_tensor *bad = dnn_zeros(1, (int64_t[]){2});
  CHECK(dnn_copy(d, bad) == DNN_EARG && errmsg_has("#2 to 'copy'", "(2, 3)", "(2)"));

  /* into a strided view: only the view's elements change */
  dnn_tensor *a = iota(2, (int64_t[]){3, 3});
  dnn_tensor *colv = dnn_select(a, 1, 1);
  CHECK(dnn_copy(colv, row) == DNN_OK);
  CHECK(values_are(a, (float[]){0, 1, 2, 3, 2, 5, 6, 3, 8}, 9));
  dnn_tensor *tv = dnn_transpose(a, 0, 1);
  dnn_tensor *src = iota(2, (int64_t[]){3, 3});
  CHECK(dnn_copy(tv, src) == DNN_OK);
  CHECK(values_are(a, (float[]){0, 3, 6, 1, 4, 7, 2, 5, 8}, 9));

  /* overlapping source and destination */
  dnn_tensor *v = dnn_arange(0, 6, 1);
  dnn_tensor *dst = dnn_narrow(v, 0, 1, 5), *from = dnn_narrow(v, 0, 0, 5);
  CHECK(dnn_copy(dst, from) == DNN_OK);
  CHECK(values_are(v, (float[]){0, 0, 1, 2, 3, 4}, 6));
  dnn_tensor *m = iota(2, (int64_t[]){2, 2});
  dnn_tensor *mt = dnn_transpose(m, 0, 1);
  CHECK(dnn_copy(m, mt) == DNN_OK); /* in-place transpose */
  CHECK(values_are(m, (float[]){0, 2, 1, 3}, 4));

  /* fill through non-contiguous views */
  dnn_tensor *f = iota(2, (int64_t[]){3, 4});
  dnn_tensor *fc = dnn_narrow(f, 1, 1, 2);
  CHECK(dnn_fill(fc, -1) == DNN_OK);
  CHECK(values_are(f, (float[]){0, -1, -1, 3, 4, -1, -1, 7, 8, -1, -1, 11}, 12));
  dnn_tensor *ft = dnn_transpose(f, 0, 1);
  dnn_tensor *ftr = dnn_select(ft, 0, 3); /* column 3 of f */
  CHECK(dnn_fill(ftr, 9) == DNN_OK);
  CHECK(values_are(f, (float[]){0, -1, -1, 9, 4, -1, -1, 9, 8, -1, -1, 9}, 12));
  dnn_tensor *sfill = dnn_scalar(0);
  CHECK(dnn_fill(sfill, 2) == DNN_OK && dnn_data(sfill)[0] == 2);

  /* refused into a tensor that requires grad, unless grad is off */
  dnn_tensor *p = dnn_zeros(1, (int64_t[]){3});
  dnn_set_requires_grad(p, true);
  CHECK(dnn_fill(p, 1) == DNN_ESTATE && errmsg_has("fill", "requires grad"));
  CHECK(dnn_copy(p, row) == DNN_ESTATE && errmsg_has("copy", "requires grad"));
  dnn_tensor *pv = dnn_narrow(p, 0, 0, 2);
  CHECK(dnn_fill(pv, 1) == DNN_ESTATE);
  dnn_set_grad_enabled(false);
  CHECK(dnn_fill(p, 1) == DNN_OK && dnn_copy(pv, sc) == DNN_OK);
  dnn_set_grad_enabled(true);
  CHECK(values_are(p, (float[]){5, 5, 1}, 3));

  /* clone copies and is recorded */
  dnn_tensor *cl = dnn_clone(p);
  CHECK(cl && cl->storage != p->storage && cl->grad_fn && values_are(cl, (float[]){5, 5, 1}, 3));
  RELEASE(d, row, col, sc, bad, a, colv, tv, src, v, dst, from, m, mt, f, fc, ft, ftr, sfill, p, pv, cl);
}

/* ---- gradients of the views ---- */

static dnn_tensor *loss_transpose(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return matmul_weighted(dnn_transpose(in[0], 0, 2));
}
static dnn_tensor *loss_permute(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return matmul_weighted(dnn_permute(in[0], (int[]){2, 0, 1}));
}
static dnn_tensor *loss_narrow(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return matmul_weighted(dnn_narrow(in[0], 1, 1, 2));
}
static dnn_tensor *loss_select(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return matmul_weighted(dnn_select(in[0], 2, 3));
}
static dnn_tensor *loss_expand(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  dnn_tensor *s = dnn_narrow(in[0], 1, 0, 1); /* (2,1,4) */
  dnn_tensor *e = s ? dnn_expand(s, 4, (int64_t[]){3, 2, 5, 4}) : NULL;
  dnn_tensor_release(s);
  return matmul_weighted(e);
}
static dnn_tensor *loss_view(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return matmul_weighted(dnn_view(in[0], 2, (int64_t[]){4, -1}));
}
static dnn_tensor *loss_reshape_copy(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  dnn_tensor *t = dnn_transpose(in[0], 0, 1);
  dnn_tensor *r = dnn_reshape(t, 1, (int64_t[]){24});
  dnn_tensor_release(t);
  return matmul_weighted(r);
}
static dnn_tensor *loss_squeeze(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  dnn_tensor *u = dnn_unsqueeze(in[0], 1);
  dnn_tensor *u2 = u ? dnn_unsqueeze(u, -1) : NULL;
  dnn_tensor *s = u2 ? dnn_squeeze(u2, DNN_ALL_DIMS) : NULL;
  dnn_tensor *s2 = s ? dnn_squeeze(s, 0) : NULL;
  RELEASE(u, u2, s);
  return matmul_weighted(s2);
}
static dnn_tensor *loss_chain(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  dnn_tensor *t = dnn_transpose(in[0], 0, 1); /* (3,2,4) */
  dnn_tensor *n = t ? dnn_narrow(t, 2, 1, 3) : NULL; /* (3,2,3) */
  dnn_tensor *s = n ? dnn_select(n, 0, 2) : NULL; /* (2,3) */
  dnn_tensor *c = s ? dnn_contiguous(s) : NULL;
  dnn_tensor *v = c ? dnn_view(c, 1, (int64_t[]){6}) : NULL;
  dnn_tensor *cl = v ? dnn_clone(v) : NULL;
  RELEASE(t, n, s, c, v);
  return matmul_weighted(cl);
}

static void test_view_gradcheck(void) {
  dnn_tensor *x = dnn_randn(3, (int64_t[]){2, 3, 4});
  gradcheck("transpose", loss_transpose, 1, &x, NULL);
  gradcheck("permute", loss_permute, 1, &x, NULL);
  gradcheck("narrow", loss_narrow, 1, &x, NULL);
  gradcheck("select", loss_select, 1, &x, NULL);
  gradcheck("expand", loss_expand, 1, &x, NULL);
  gradcheck("view", loss_view, 1, &x, NULL);
  gradcheck("reshape (copying)", loss_reshape_copy, 1, &x, NULL);
  gradcheck("squeeze/unsqueeze", loss_squeeze, 1, &x, NULL);
  gradcheck("chain of views", loss_chain, 1, &x, NULL);
  dnn_tensor_release(x);
}

/* Exact placement: the gradient of a select of a narrow of a transpose lands
 * on the base elements it came from, zero elsewhere. */
static void test_view_grad_placement(void) {
  dnn_tensor *x = dnn_zeros(2, (int64_t[]){3, 4});
  dnn_set_requires_grad(x, true);
  dnn_tensor *t = dnn_transpose(x, 0, 1); /* (4,3): t[i][j] = x[j][i] */
  dnn_tensor *n = dnn_narrow(t, 0, 1, 2); /* rows 1..2 of t = columns 1..2 of x */
  dnn_tensor *s = dnn_select(n, 1, 2); /* (2): x[2][1], x[2][2] */
  dnn_tensor *g = dnn_from_data((float[]){10, 20}, 1, (int64_t[]){2});
  CHECK(s && dnn_backward(s, g) == DNN_OK);
  CHECK(values_are(x->grad, (float[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 20, 0}, 12));
  /* expand sums the gradient back over the broadcast dims */
  dnn_tensor *b = dnn_zeros(2, (int64_t[]){1, 2});
  dnn_set_requires_grad(b, true);
  dnn_tensor *e = dnn_expand(b, 3, (int64_t[]){2, 3, 2});
  dnn_tensor *ge = dnn_arange(0, 12, 1);
  dnn_tensor *gev = dnn_view(ge, 3, (int64_t[]){2, 3, 2});
  CHECK(e && dnn_backward(e, gev) == DNN_OK);
  CHECK(values_are(b->grad, (float[]){0 + 2 + 4 + 6 + 8 + 10, 1 + 3 + 5 + 7 + 9 + 11}, 2));
  RELEASE(x, t, n, s, g, b, e, ge, gev);
}

int main(void) {
  dnn_manual_seed(3);
  test_creation();
  test_block_reuse();
  test_ranges();
  test_random();
  test_from_buffer();
  test_shared_storage();
  test_view_reshape();
  test_transpose_permute();
  test_narrow_select();
  test_expand_squeeze();
  test_copy_fill();
  test_view_gradcheck();
  test_view_grad_placement();
  return check_report("test_views");
}

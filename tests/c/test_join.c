/* cat, stack, index_select, gather, one_hot: values, strided inputs, error
 * messages, and gradients (exact values and finite differences). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static dnn_tensor *from(int ndim, const int64_t *shape, const float *v) { return dnn_from_data(v, ndim, shape); }

/* ---- cat ---- */

static void test_cat(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 3}), *b = iota(2, (int64_t[]){1, 3}), *c = iota(2, (int64_t[]){2, 2});
  dnn_tensor *ab = dnn_cat(2, (dnn_tensor *[]){a, b}, 0);
  CHECK(has_shape(ab, 2, (int64_t[]){3, 3}));
  CHECK(values_are(ab, (float[]){0, 1, 2, 3, 4, 5, 0, 1, 2}, 9));
  CHECK(ab && ab->grad_fn == NULL);
  dnn_tensor *ac = dnn_cat(2, (dnn_tensor *[]){a, c}, 1);
  CHECK(has_shape(ac, 2, (int64_t[]){2, 5}));
  CHECK(values_are(ac, (float[]){0, 1, 2, 0, 1, 3, 4, 5, 2, 3}, 10));
  dnn_tensor *neg = dnn_cat(3, (dnn_tensor *[]){c, a, c}, -1);
  CHECK(has_shape(neg, 2, (int64_t[]){2, 7}));
  CHECK(values_are(neg, (float[]){0, 1, 0, 1, 2, 0, 1, 2, 3, 3, 4, 5, 2, 3}, 14));
  /* a strided input (transposed) and a single input (a copy) */
  dnn_tensor *t = dnn_transpose(c, 0, 1);
  dnn_tensor *tc = dnn_cat(2, (dnn_tensor *[]){t, a}, 1);
  CHECK(values_are(tc, (float[]){0, 2, 0, 1, 2, 1, 3, 3, 4, 5}, 10));
  dnn_tensor *one = dnn_cat(1, (dnn_tensor *[]){a}, 0);
  CHECK(one && one != a && one->storage != a->storage && values_are(one, (float[]){0, 1, 2, 3, 4, 5}, 6));
  /* an empty piece along dim */
  dnn_tensor *e = dnn_zeros(2, (int64_t[]){0, 3});
  dnn_tensor *ae = dnn_cat(2, (dnn_tensor *[]){e, a}, 0);
  CHECK(has_shape(ae, 2, (int64_t[]){2, 3}) && values_are(ae, (float[]){0, 1, 2, 3, 4, 5}, 6));
  /* 3-d along the middle dim */
  dnn_tensor *x = iota(3, (int64_t[]){2, 1, 2}), *y = iota(3, (int64_t[]){2, 2, 2});
  dnn_tensor *xy = dnn_cat(2, (dnn_tensor *[]){x, y}, 1);
  CHECK(has_shape(xy, 3, (int64_t[]){2, 3, 2}));
  CHECK(values_are(xy, (float[]){0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 6, 7}, 12));

  RELEASE(a, b, c, ab, ac, neg, t, tc, one, e, ae, x, y, xy);
}

static void test_cat_errors(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 3}), *b = iota(2, (int64_t[]){2, 4}), *v = iota(1, (int64_t[]){3});
  dnn_tensor *s = dnn_scalar(1);
  CHECK(dnn_cat(0, NULL, 0) == NULL && dnn_errcode() == DNN_EARG && errmsg_has("'cat'", "at least one"));
  CHECK(dnn_cat(2, (dnn_tensor *[]){a, b}, 0) == NULL);
  CHECK(errmsg_has("bad argument #1 to 'cat'", "tensor 2", "(2, 4)", "(2, 3)"));
  CHECK(dnn_cat(3, (dnn_tensor *[]){a, a, v}, 1) == NULL);
  CHECK(errmsg_has("tensor 3", "(2, 3)", "(3)"));
  CHECK(dnn_cat(2, (dnn_tensor *[]){a, a}, 2) == NULL && errmsg_has("#2 to 'cat'", "dim"));
  CHECK(dnn_cat(2, (dnn_tensor *[]){a, s}, 0) == NULL && errmsg_has("'cat'", "0-d", "tensor 2"));
  dnn_tensor *ok = dnn_cat(2, (dnn_tensor *[]){a, b}, 1);
  CHECK(has_shape(ok, 2, (int64_t[]){2, 7}));
  RELEASE(a, b, v, s, ok);
}

static void test_cat_backward(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 2}), *b = iota(2, (int64_t[]){2, 1});
  dnn_set_requires_grad(a, true);
  dnn_set_requires_grad(b, true);
  dnn_tensor *c = dnn_cat(3, (dnn_tensor *[]){a, b, a}, 1); /* (2, 5); a used twice */
  CHECK(c && c->grad_fn && strcmp(c->grad_fn->op, "cat") == 0);
  dnn_tensor *g = from(2, (int64_t[]){2, 5}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(dnn_backward(c, g) == DNN_OK);
  CHECK(values_are(a->grad, (float[]){1 + 4, 2 + 5, 6 + 9, 7 + 10}, 4));
  CHECK(values_are(b->grad, (float[]){3, 8}, 2));
  dnn_tensor_release(c);
  dnn_tensor_release(g);
  /* only some inputs need grad */
  dnn_tensor *k = iota(2, (int64_t[]){1, 2});
  dnn_tensor_release(a->grad);
  a->grad = NULL;
  c = dnn_cat(2, (dnn_tensor *[]){k, a}, 0);
  g = from(2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6});
  CHECK(dnn_backward(c, g) == DNN_OK);
  CHECK(values_are(a->grad, (float[]){3, 4, 5, 6}, 4));
  CHECK(k->grad == NULL);
  RELEASE(a, b, c, g, k);
}

static dnn_tensor *cat_loss(dnn_tensor *const *in, void *ctx) {
  int dim = *(int *)ctx;
  dnn_tensor *t = dnn_transpose(in[2], 0, 1); /* a strided piece too */
  dnn_tensor *c = dnn_cat(3, (dnn_tensor *[]){in[0], in[1], t}, dim);
  dnn_tensor_release(t);
  return matmul_weighted(c);
}

static dnn_tensor *stack_loss(dnn_tensor *const *in, void *ctx) {
  return matmul_weighted(dnn_stack(3, (dnn_tensor *[]){in[0], in[1], in[2]}, *(int *)ctx));
}

static void test_join_gradcheck(void) {
  int dim0 = 0, dim1 = 1, last = -1;
  dnn_tensor *a = dnn_randn(2, (int64_t[]){2, 3}), *b = dnn_randn(2, (int64_t[]){1, 3});
  dnn_tensor *c = dnn_randn(2, (int64_t[]){3, 3});
  gradcheck("cat dim 0", cat_loss, 3, (dnn_tensor *[]){a, b, c}, &dim0);
  dnn_tensor *b2 = dnn_randn(2, (int64_t[]){2, 4}), *c2 = dnn_randn(2, (int64_t[]){2, 2});
  gradcheck("cat dim 1", cat_loss, 3, (dnn_tensor *[]){a, b2, c2}, &dim1);
  dnn_tensor *x = dnn_randn(2, (int64_t[]){2, 3}), *y = dnn_randn(2, (int64_t[]){2, 3});
  dnn_tensor *z = dnn_randn(2, (int64_t[]){2, 3});
  gradcheck("stack dim 0", stack_loss, 3, (dnn_tensor *[]){x, y, z}, &dim0);
  gradcheck("stack dim 1", stack_loss, 3, (dnn_tensor *[]){x, y, z}, &dim1);
  gradcheck("stack dim -1", stack_loss, 3, (dnn_tensor *[]){x, y, z}, &last);
  RELEASE(a, b, c, b2, c2, x, y, z);
}

/* ---- stack ---- */

static void test_stack(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 2}), *b = dnn_full(2, (int64_t[]){2, 2}, 9);
  dnn_tensor *s0 = dnn_stack(2, (dnn_tensor *[]){a, b}, 0);
  CHECK(has_shape(s0, 3, (int64_t[]){2, 2, 2}));
  CHECK(values_are(s0, (float[]){0, 1, 2, 3, 9, 9, 9, 9}, 8));
  dnn_tensor *s1 = dnn_stack(2, (dnn_tensor *[]){a, b}, 1);
  CHECK(has_shape(s1, 3, (int64_t[]){2, 2, 2}));
  CHECK(values_are(s1, (float[]){0, 1, 9, 9, 2, 3, 9, 9}, 8));
  dnn_tensor *s2 = dnn_stack(2, (dnn_tensor *[]){a, b}, -1); /* a new last axis */
  CHECK(has_shape(s2, 3, (int64_t[]){2, 2, 2}));
  CHECK(values_are(s2, (float[]){0, 9, 1, 9, 2, 9, 3, 9}, 8));
  dnn_tensor *s3 = dnn_stack(2, (dnn_tensor *[]){a, b}, 2);
  CHECK(values_are(s3, (float[]){0, 9, 1, 9, 2, 9, 3, 9}, 8));
  /* scalars stack into a vector */
  dnn_tensor *p = dnn_scalar(1), *q = dnn_scalar(2);
  dnn_tensor *pq = dnn_stack(2, (dnn_tensor *[]){p, q}, 0);
  CHECK(has_shape(pq, 1, (int64_t[]){2}) && values_are(pq, (float[]){1, 2}, 2));
  /* many inputs (beyond the small on-stack array) */
  dnn_tensor *many[20];
  for (int i = 0; i < 20; i++) many[i] = dnn_full(1, (int64_t[]){2}, (float)i);
  dnn_tensor *m = dnn_stack(20, many, 1);
  CHECK(has_shape(m, 2, (int64_t[]){2, 20}));
  CHECK(m && dnn_data(m)[19] == 19 && dnn_data(m)[20 + 7] == 7);
  for (int i = 0; i < 20; i++) dnn_tensor_release(many[i]);

  /* errors */
  dnn_tensor *c = iota(2, (int64_t[]){2, 3});
  CHECK(dnn_stack(3, (dnn_tensor *[]){a, b, c}, 0) == NULL);
  CHECK(errmsg_has("bad argument #1 to 'stack'", "tensor 3", "(2, 3)", "(2, 2)"));
  CHECK(dnn_stack(2, (dnn_tensor *[]){a, b}, 3) == NULL && errmsg_has("#2 to 'stack'", "dim"));
  CHECK(dnn_stack(2, (dnn_tensor *[]){a, b}, -4) == NULL && errmsg_has("#2 to 'stack'", "dim"));
  CHECK(dnn_stack(0, NULL, 0) == NULL && errmsg_has("'stack'", "at least one"));

  /* backward: each input gets its slice */
  dnn_set_requires_grad(a, true);
  dnn_tensor *st = dnn_stack(2, (dnn_tensor *[]){b, a}, 1); /* (2, 2, 2) */
  dnn_tensor *g = iota(3, (int64_t[]){2, 2, 2});
  CHECK(st && dnn_backward(st, g) == DNN_OK);
  CHECK(values_are(a->grad, (float[]){2, 3, 6, 7}, 4));
  CHECK(b->grad == NULL);
  RELEASE(a, b, s0, s1, s2, s3, p, q, pq, m, c, st, g);
}

/* ---- index_select ---- */

static void test_index_select(void) {
  dnn_tensor *a = iota(2, (int64_t[]){3, 4});
  dnn_tensor *idx = from(1, (int64_t[]){4}, (float[]){2, 0, 2, 1});
  dnn_tensor *r = dnn_index_select(a, 0, idx, 0);
  CHECK(has_shape(r, 2, (int64_t[]){4, 4}));
  CHECK(values_are(r, (float[]){8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7}, 16));
  dnn_tensor *cidx = from(1, (int64_t[]){2}, (float[]){3, 0});
  dnn_tensor *c = dnn_index_select(a, 1, cidx, 0);
  CHECK(has_shape(c, 2, (int64_t[]){3, 2}) && values_are(c, (float[]){3, 0, 7, 4, 11, 8}, 6));
  dnn_tensor *c2 = dnn_index_select(a, -1, cidx, 0);
  CHECK(values_are(c2, (float[]){3, 0, 7, 4, 11, 8}, 6));
  /* base 1 (Lua) */
  dnn_tensor *lidx = from(1, (int64_t[]){2}, (float[]){4, 1});
  dnn_tensor *l = dnn_index_select(a, 1, lidx, 1);
  CHECK(values_are(l, (float[]){3, 0, 7, 4, 11, 8}, 6));
  /* strided input and index */
  dnn_tensor *at_ = dnn_transpose(a, 0, 1); /* (4, 3) */
  dnn_tensor *two = from(1, (int64_t[]){1}, (float[]){2});
  dnn_tensor *t = dnn_index_select(at_, 1, two, 0);
  CHECK(has_shape(t, 2, (int64_t[]){4, 1}) && values_are(t, (float[]){8, 9, 10, 11}, 4));
  dnn_tensor *wide = from(2, (int64_t[]){2, 2}, (float[]){1, 9, 2, 9});
  dnn_tensor *sidx = dnn_select(wide, 1, 0); /* (1, 2) with stride 2 */
  dnn_tensor *s = dnn_index_select(a, 0, sidx, 0);
  CHECK(values_are(s, (float[]){4, 5, 6, 7, 8, 9, 10, 11}, 8));
  /* empty index */
  dnn_tensor *none = dnn_zeros(1, (int64_t[]){0});
  dnn_tensor *e = dnn_index_select(a, 0, none, 0);
  CHECK(has_shape(e, 2, (int64_t[]){0, 4}));

  /* errors: range, whole numbers, index rank, dim, 0-d input */
  dnn_tensor *bad = from(1, (int64_t[]){2}, (float[]){0, 3});
  CHECK(dnn_index_select(a, 0, bad, 0) == NULL && dnn_errcode() == DNN_EARG);
  CHECK(errmsg_has("bad argument #3 to 'index_select'", "[0, 2]", "got 3"));
  CHECK(dnn_index_select(a, 0, bad, 1) == NULL && errmsg_has("'index_select'", "[1, 3]", "got 0"));
  dnn_tensor *frac = from(1, (int64_t[]){1}, (float[]){1.5f});
  CHECK(dnn_index_select(a, 0, frac, 0) == NULL && errmsg_has("'index_select'", "whole", "1.5"));
  dnn_tensor *negi = from(1, (int64_t[]){1}, (float[]){-1});
  CHECK(dnn_index_select(a, 0, negi, 0) == NULL && errmsg_has("'index_select'", "got -1"));
  dnn_tensor *i2 = dnn_zeros(2, (int64_t[]){1, 1});
  CHECK(dnn_index_select(a, 0, i2, 0) == NULL && errmsg_has("#3 to 'index_select'", "1-d"));
  CHECK(dnn_index_select(a, 2, idx, 0) == NULL && errmsg_has("#2 to 'index_select'", "dim"));
  dnn_tensor *sc = dnn_scalar(1);
  CHECK(dnn_index_select(sc, 0, idx, 0) == NULL && errmsg_has("#1 to 'index_select'", "0-d"));

  RELEASE(a, idx, r, cidx, c, c2, lidx, l, at_, two, t, wide, sidx, s, none, e, bad, frac, negi, i2, sc);
}

static void test_index_select_backward(void) {
  dnn_tensor *a = iota(2, (int64_t[]){3, 2});
  dnn_set_requires_grad(a, true);
  dnn_tensor *idx = from(1, (int64_t[]){3}, (float[]){2, 0, 2});
  dnn_tensor *r = dnn_index_select(a, 0, idx, 0);
  CHECK(r && r->grad_fn && strcmp(r->grad_fn->op, "index_select") == 0);
  /* the saved index is private: changing the caller's after forward is harmless */
  dnn_data(idx)[1] = 1;
  dnn_tensor *g = from(2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6});
  CHECK(dnn_backward(r, g) == DNN_OK);
  CHECK(values_are(a->grad, (float[]){3, 4, 0, 0, 1 + 5, 2 + 6}, 6)); /* row 2 picked twice: grads add */
  dnn_tensor_release(r);
  dnn_tensor_release(g);
  dnn_tensor_release(idx);
  dnn_tensor_release(a);
}

static dnn_tensor *index_select_loss(dnn_tensor *const *in, void *ctx) {
  int dim = *(int *)ctx;
  dnn_tensor *idx = from(1, (int64_t[]){4}, (float[]){1, 0, 1, 1});
  dnn_tensor *r = dnn_index_select(in[0], dim, idx, 0);
  dnn_tensor_release(idx);
  return matmul_weighted(r);
}

/* ---- gather ---- */

static void test_gather(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 3});
  dnn_tensor *idx = from(2, (int64_t[]){2, 2}, (float[]){2, 0, 1, 1});
  dnn_tensor *g1 = dnn_gather(a, 1, idx, 0); /* out[i][j] = a[i][idx[i][j]] */
  CHECK(has_shape(g1, 2, (int64_t[]){2, 2}) && values_are(g1, (float[]){2, 0, 4, 4}, 4));
  dnn_tensor *idx0 = from(2, (int64_t[]){1, 3}, (float[]){1, 0, 1});
  dnn_tensor *g0 = dnn_gather(a, 0, idx0, 0); /* out[i][j] = a[idx[i][j]][j] */
  CHECK(has_shape(g0, 2, (int64_t[]){1, 3}) && values_are(g0, (float[]){3, 1, 5}, 3));
  /* base 1 and a negative dim */
  dnn_tensor *lidx = from(2, (int64_t[]){2, 1}, (float[]){3, 1});
  dnn_tensor *gl = dnn_gather(a, -1, lidx, 1);
  CHECK(has_shape(gl, 2, (int64_t[]){2, 1}) && values_are(gl, (float[]){2, 3}, 2));
  /* a strided input */
  dnn_tensor *at_ = dnn_transpose(a, 0, 1); /* (3, 2): [[0,3],[1,4],[2,5]] */
  dnn_tensor *tidx = from(2, (int64_t[]){3, 1}, (float[]){1, 0, 1});
  dnn_tensor *gt = dnn_gather(at_, 1, tidx, 0);
  CHECK(values_are(gt, (float[]){3, 1, 5}, 3));
  /* 3-d, along the middle dim */
  dnn_tensor *c = iota(3, (int64_t[]){2, 3, 2});
  dnn_tensor *cidx = from(3, (int64_t[]){2, 1, 2}, (float[]){2, 0, 1, 1});
  dnn_tensor *gc = dnn_gather(c, 1, cidx, 0);
  CHECK(has_shape(gc, 3, (int64_t[]){2, 1, 2}) && values_are(gc, (float[]){4, 1, 8, 9}, 4));

  /* errors */
  dnn_tensor *bad = from(2, (int64_t[]){2, 1}, (float[]){0, 3});
  CHECK(dnn_gather(a, 1, bad, 0) == NULL && errmsg_has("bad argument #3 to 'gather'", "[0, 2]", "got 3"));
  dnn_tensor *frac = from(2, (int64_t[]){1, 1}, (float[]){0.25f});
  CHECK(dnn_gather(a, 1, frac, 0) == NULL && errmsg_has("'gather'", "whole", "0.25"));
  dnn_tensor *flat = from(1, (int64_t[]){2}, (float[]){0, 1});
  CHECK(dnn_gather(a, 1, flat, 0) == NULL && errmsg_has("#3 to 'gather'", "2 dims"));
  dnn_tensor *tall = dnn_zeros(2, (int64_t[]){3, 1});
  CHECK(dnn_gather(a, 1, tall, 0) == NULL && errmsg_has("#3 to 'gather'", "(2, 3)", "(3, 1)"));
  CHECK(dnn_gather(a, 5, idx, 0) == NULL && errmsg_has("#2 to 'gather'", "dim"));

  RELEASE(a, idx, g1, idx0, g0, lidx, gl, at_, tidx, gt, c, cidx, gc, bad, frac, flat, tall);
}

static void test_gather_backward(void) {
  dnn_tensor *a = iota(2, (int64_t[]){2, 3});
  dnn_set_requires_grad(a, true);
  dnn_tensor *idx = from(2, (int64_t[]){2, 3}, (float[]){2, 2, 0, 1, 1, 1});
  dnn_tensor *r = dnn_gather(a, 1, idx, 0);
  dnn_tensor *g = from(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
  CHECK(r && dnn_backward(r, g) == DNN_OK);
  CHECK(values_are(a->grad, (float[]){3, 0, 1 + 2, 0, 4 + 5 + 6, 0}, 6));
  RELEASE(a, idx, r, g);
}

static dnn_tensor *gather_loss(dnn_tensor *const *in, void *ctx) {
  int dim = *(int *)ctx;
  dnn_tensor *idx = from(2, (int64_t[]){2, 2}, (float[]){1, 0, 1, 1});
  dnn_tensor *r = dnn_gather(in[0], dim, idx, 0);
  dnn_tensor_release(idx);
  return matmul_weighted(r);
}

static void test_index_gradcheck(void) {
  int dim0 = 0, dim1 = 1;
  dnn_tensor *a = dnn_randn(2, (int64_t[]){2, 3}), *b = dnn_randn(2, (int64_t[]){3, 2});
  gradcheck("index_select dim 1", index_select_loss, 1, (dnn_tensor *[]){a}, &dim1);
  gradcheck("index_select dim 0", index_select_loss, 1, (dnn_tensor *[]){b}, &dim0);
  gradcheck("gather dim 0", gather_loss, 1, (dnn_tensor *[]){a}, &dim0);
  gradcheck("gather dim 1", gather_loss, 1, (dnn_tensor *[]){b}, &dim1);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

/* ---- one_hot ---- */

static void test_one_hot(void) {
  dnn_tensor *labels = from(1, (int64_t[]){3}, (float[]){2, 0, 1});
  dnn_tensor *oh = dnn_one_hot(labels, 3, 0);
  CHECK(has_shape(oh, 2, (int64_t[]){3, 3}) && values_are(oh, (float[]){0, 0, 1, 1, 0, 0, 0, 1, 0}, 9));
  dnn_tensor *l1 = from(2, (int64_t[]){2, 1}, (float[]){1, 4});
  dnn_tensor *o1 = dnn_one_hot(l1, 4, 1);
  CHECK(has_shape(o1, 3, (int64_t[]){2, 1, 4}) && values_are(o1, (float[]){1, 0, 0, 0, 0, 0, 0, 1}, 8));
  dnn_tensor *s = dnn_scalar(1);
  dnn_tensor *os = dnn_one_hot(s, 2, 0);
  CHECK(has_shape(os, 1, (int64_t[]){2}) && values_are(os, (float[]){0, 1}, 2));
  /* no gradient, even from labels that require it */
  dnn_set_requires_grad(labels, true);
  dnn_tensor *og = dnn_one_hot(labels, 3, 0);
  CHECK(og && og->grad_fn == NULL && !og->requires_grad);
  /* errors */
  CHECK(dnn_one_hot(labels, 2, 0) == NULL && errmsg_has("bad argument #1 to 'one_hot'", "[0, 1]", "got 2"));
  CHECK(dnn_one_hot(labels, 3, 1) == NULL && errmsg_has("'one_hot'", "[1, 3]", "got 0"));
  CHECK(dnn_one_hot(labels, 0, 0) == NULL && errmsg_has("#2 to 'one_hot'", "got 0"));
  dnn_tensor *frac = from(1, (int64_t[]){1}, (float[]){0.5f});
  CHECK(dnn_one_hot(frac, 3, 0) == NULL && errmsg_has("'one_hot'", "whole", "0.5"));
  RELEASE(labels, oh, l1, o1, s, os, og, frac);
}

int main(void) {
  dnn_manual_seed(7);
  test_cat();
  test_cat_errors();
  test_cat_backward();
  test_stack();
  test_join_gradcheck();
  test_index_select();
  test_index_select_backward();
  test_gather();
  test_gather_backward();
  test_index_gradcheck();
  test_one_hot();
  return check_report("test_join");
}

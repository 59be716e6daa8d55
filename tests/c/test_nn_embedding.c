/* The embedding op (nn.h: dnn_embedding, dnn_embedding_grad): known values,
 * padding, gradients against finite differences (first and second order),
 * the same bits at any thread count, private ids, and errors naming the bad
 * id and its position. (test_embed.c is the embedding API of dnnlua.h, a
 * different thing.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

static dnn_tensor *tensor(int ndim, const int64_t *shape, const float *data) {
  return dnn_from_data(data, ndim, shape);
}

/* A (rows, d) table of distinct values. */
static dnn_tensor *table_of(int64_t rows, int64_t d) {
  int64_t shape[2] = {rows, d};
  dnn_tensor *t = dnn_empty(2, shape);
  for (int64_t i = 0; i < rows * d; i++) dnn_data(t)[i] = (float)(i + 1) / 8.0f - (float)(i % 3);
  return t;
}

static void test_values(void) {
  /* table rows r1 = (1, 2), r2 = (3, 4), r3 = (5, 6) */
  dnn_tensor *table = tensor(2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6});
  dnn_tensor *ids = tensor(2, (int64_t[]){2, 3}, (float[]){3, 1, 3, 2, 2, 1});
  dnn_tensor *y = dnn_embedding(table, ids, false);
  CHECK(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 2);
  CHECK(values_are(y, (float[]){5, 6, 1, 2, 5, 6, 3, 4, 3, 4, 1, 2}, 12));
  dnn_tensor_release(y);
  dnn_tensor_release(ids);

  /* mask_zero: id 0 embeds to zeros */
  ids = tensor(1, (int64_t[]){4}, (float[]){2, 0, 0, 3});
  y = dnn_embedding(table, ids, true);
  CHECK(y && y->ndim == 2 && y->shape[0] == 4 && y->shape[1] == 2);
  CHECK(values_are(y, (float[]){3, 4, 0, 0, 0, 0, 5, 6}, 8));
  dnn_tensor_release(y);
  dnn_tensor_release(ids);

  /* one id (a 0-d tensor) gives one row; empty ids give an empty result */
  ids = dnn_scalar(2);
  y = dnn_embedding(table, ids, false);
  CHECK(y && y->ndim == 1 && y->shape[0] == 2 && values_are(y, (float[]){3, 4}, 2));
  dnn_tensor_release(y);
  dnn_tensor_release(ids);
  ids = dnn_zeros(2, (int64_t[]){2, 0});
  y = dnn_embedding(table, ids, false);
  CHECK(y && y->ndim == 3 && y->shape[1] == 0 && y->shape[2] == 2);
  dnn_tensor_release(y);
  dnn_tensor_release(ids);

  /* the gradient: each row sums the gradients of the positions holding its id; padding sends none */
  ids = tensor(2, (int64_t[]){2, 3}, (float[]){3, 1, 3, 0, 2, 1});
  dnn_tensor *g = tensor(3, (int64_t[]){2, 3, 2}, (float[]){1, 2, 10, 20, 100, 200, 7, 7, 1000, 2000, 3, 4});
  dnn_tensor *dt = dnn_embedding_grad(g, ids, 4, true);
  CHECK(dt && dt->ndim == 2 && dt->shape[0] == 4 && dt->shape[1] == 2);
  CHECK(values_are(dt, (float[]){13, 24, 1000, 2000, 101, 202, 0, 0}, 8));
  dnn_tensor_release(dt);
  /* the same through backward */
  dnn_set_requires_grad(table, true);
  y = dnn_embedding(table, ids, true);
  dnn_tensor *m = y ? dnn_mul(y, g) : NULL;
  dnn_tensor *loss = m ? dnn_sum(m, DNN_ALL_DIMS, false) : NULL;
  CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
  CHECK(table->grad && values_are(table->grad, (float[]){13, 24, 1000, 2000, 101, 202}, 6));
  dnn_tensor_release(loss);
  dnn_tensor_release(m);
  dnn_tensor_release(y);
  dnn_tensor_release(g);
  dnn_tensor_release(ids);
  dnn_tensor_release(table);
}

typedef struct {
  dnn_tensor *ids;
  bool mask_zero;
  int64_t rows;
} emb_case;

static dnn_tensor *embedding_loss(dnn_tensor *const *in, void *ctx) {
  const emb_case *c = ctx;
  return gc_weighted_sum(dnn_embedding(in[0], c->ids, c->mask_zero));
}

static dnn_tensor *embedding_grad_loss(dnn_tensor *const *in, void *ctx) {
  const emb_case *c = ctx;
  return gc_weighted_sum(dnn_embedding_grad(in[0], c->ids, c->rows, c->mask_zero));
}

/* ids of the given shape cycling through 0..rows (0 only when mask_zero), repeats included. */
static dnn_tensor *ids_of(int ndim, const int64_t *shape, int64_t rows, bool mask_zero) {
  dnn_tensor *ids = dnn_empty(ndim, shape);
  int64_t lo = mask_zero ? 0 : 1, span = rows + 1 - lo;
  for (int64_t i = 0; i < dnn_numel(ids); i++) dnn_data(ids)[i] = (float)(lo + (i * 5 + 2) % span);
  return ids;
}

static void test_gradients(void) {
  const int64_t shapes[3][3] = {{7, 0, 0}, {3, 4, 0}, {2, 3, 2}};
  for (int s = 0; s < 3; s++) {
    int ndim = s + 1;
    for (int mz = 0; mz < 2; mz++) {
      emb_case c = {ids_of(ndim, shapes[s], 5, mz), mz, 5};
      dnn_tensor *table = table_of(5, 3);
      char name[64];
      snprintf(name, sizeof name, "embedding %d-d ids mask_zero %d", ndim, mz);
      gradcheck(name, embedding_loss, 1, &table, &c);
      /* the gradient op against its own finite differences (it is linear in g) */
      int64_t gshape[4];
      memcpy(gshape, shapes[s], sizeof shapes[s]);
      gshape[ndim] = 3;
      dnn_tensor *g = dnn_empty(ndim + 1, gshape);
      for (int64_t i = 0; i < dnn_numel(g); i++) dnn_data(g)[i] = (float)((i * 3) % 7) / 7.0f - 0.4f;
      snprintf(name, sizeof name, "embedding_grad %d-d ids mask_zero %d", ndim, mz);
      gradcheck(name, embedding_grad_loss, 1, &g, &c);
      dnn_tensor_release(g);
      dnn_tensor_release(table);
      dnn_tensor_release(c.ids);
    }
  }
}

/* h(table) = sum(v * d/dtable sum(w * embedding(table)^2)): its gradient goes through the recorded backward
 * (embedding_grad), then through embedding_grad's (embedding). */
static dnn_tensor *second_h(dnn_tensor *table, const emb_case *c, bool create) {
  dnn_tensor *y = dnn_embedding(table, c->ids, c->mask_zero);
  dnn_tensor *f = gc_weighted_sum(y ? dnn_unary(DNN_UNARY_SQUARE, y, 0.0f) : NULL);
  dnn_tensor_release(y);
  dnn_tensor *g = NULL;
  if (!f || dnn_grad(1, &f, NULL, 1, &table, &g, &(dnn_backward_opts){.create_graph = create}) != DNN_OK) {
    dnn_tensor_release(f);
    return NULL;
  }
  dnn_tensor_release(f);
  dnn_tensor *v = dnn_empty(g->ndim, g->shape);
  for (int64_t i = 0; i < dnn_numel(v); i++) dnn_data(v)[i] = (float)((i * 5 + 1) % 9 - 4) / 4.0f + 0.1f;
  dnn_tensor *m = dnn_mul(g, v);
  dnn_tensor *h = m ? dnn_sum(m, DNN_ALL_DIMS, false) : NULL;
  dnn_tensor_release(m);
  dnn_tensor_release(v);
  dnn_tensor_release(g);
  return h;
}

static void test_second_order(void) {
  emb_case c = {ids_of(2, (int64_t[]){3, 3}, 4, true), true, 4};
  dnn_tensor *table = table_of(4, 2);
  dnn_set_requires_grad(table, true);
  dnn_tensor *h = second_h(table, &c, true);
  CHECK(h && dnn_backward(h, NULL) == DNN_OK);
  dnn_tensor_release(h);
  CHECK(table->grad != NULL);
  int bad = 0;
  const double eps = 1e-2;
  for (int64_t k = 0; table->grad && k < dnn_numel(table); k++) {
    float x0 = dnn_data(table)[k];
    dnn_data(table)[k] = (float)(x0 + eps);
    dnn_tensor *hp = second_h(table, &c, false);
    dnn_data(table)[k] = (float)(x0 - eps);
    dnn_tensor *hm = second_h(table, &c, false);
    dnn_data(table)[k] = x0;
    double fd = hp && hm ? ((double)dnn_data(hp)[0] - dnn_data(hm)[0]) / (2 * eps) : NAN;
    double a = dnn_data(table->grad)[k];
    if (!(fabs(a - fd) <= 5e-3 + 2e-2 * fabs(fd))) {
      fprintf(stderr, "second order [%lld]: %g, finite difference %g\n", (long long)k, a, fd);
      bad++;
    }
    dnn_tensor_release(hp);
    dnn_tensor_release(hm);
  }
  CHECK(bad == 0);
  dnn_tensor_release(table);
  dnn_tensor_release(c.ids);
}

/* The table's gradient has the same bits on 1 and 2 threads, and equals a plain sum in position order. */
static void test_threads(void) {
  const int64_t rows = 50, d = 64;
  int64_t ishape[2] = {64, 40};
  dnn_tensor *ids = dnn_empty(2, ishape);
  int64_t n = dnn_numel(ids);
  for (int64_t i = 0; i < n; i++) dnn_data(ids)[i] = (float)((i * i + 3 * i) % (rows + 1)); /* skewed, with 0s */
  int64_t gshape[3] = {64, 40, d};
  dnn_tensor *g = dnn_empty(3, gshape);
  for (int64_t i = 0; i < n * d; i++) dnn_data(g)[i] = sinf((float)i * 0.37f) * 1e3f + 1e-3f * (float)(i % 11);
  float *want = calloc((size_t)(rows * d), sizeof(float));
  for (int64_t p = 0; p < n; p++) {
    int64_t id = (int64_t)dnn_data(ids)[p];
    if (id > 0)
      for (int64_t j = 0; j < d; j++) want[(id - 1) * d + j] += dnn_data(g)[p * d + j];
  }
  int saved = dnn_get_num_threads();
  for (int t = 1; t <= 2; t++) {
    dnn_set_num_threads(t);
    dnn_tensor *dt = dnn_embedding_grad(g, ids, rows, true);
    CHECK(dt && memcmp(dnn_data(dt), want, (size_t)(rows * d) * sizeof(float)) == 0);
    dnn_tensor_release(dt);
  }
  dnn_set_num_threads(saved);
  free(want);
  dnn_tensor_release(g);
  dnn_tensor_release(ids);
}

/* Strided ids read as their copy; ids written after the forward leave the gradient as it was. */
static void test_ids_views_and_copies(void) {
  dnn_tensor *table = table_of(6, 2);
  dnn_tensor *ids = tensor(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
  dnn_tensor *t = dnn_transpose(ids, 0, 1), *tc = dnn_contiguous(t);
  dnn_tensor *a = dnn_embedding(table, t, false), *b = dnn_embedding(table, tc, false);
  CHECK(a && b && dnn_same_shape(a, b) && memcmp(dnn_data(a), dnn_data(b), (size_t)dnn_numel(a) * 4) == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);

  dnn_set_requires_grad(table, true);
  dnn_tensor *y = dnn_embedding(table, tc, false);
  dnn_fill(tc, 1.0f); /* the op saved its own copy */
  dnn_tensor *loss = gc_weighted_sum(y);
  CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
  /* every row got exactly one position's weight, none piled onto row 1 */
  int nonzero = 0;
  for (int64_t r = 0; table->grad && r < 6; r++) nonzero += dnn_data(table->grad)[r * 2] != 0;
  CHECK(nonzero == 6);
  dnn_tensor_release(loss);
  dnn_tensor_release(t);
  dnn_tensor_release(tc);
  dnn_tensor_release(ids);
  dnn_tensor_release(table);
}

static void test_errors(void) {
  dnn_tensor *table = table_of(5, 3);
  dnn_tensor *ids = tensor(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 6, 1});
  CHECK(dnn_embedding(table, ids, false) == NULL && errmsg_has("'embedding'") && errmsg_has("1..5") &&
        errmsg_has("got 6 at [2, 2] of ids (2, 3)"));
  dnn_data(ids)[4] = -1;
  CHECK(dnn_embedding(table, ids, true) == NULL && errmsg_has("got -1 at [2, 2]") && errmsg_has("0 for padding"));
  dnn_data(ids)[4] = 2.5f;
  CHECK(dnn_embedding(table, ids, false) == NULL && errmsg_has("whole-number") && errmsg_has("got 2.5 at [2, 2]"));
  dnn_data(ids)[4] = NAN;
  CHECK(dnn_embedding(table, ids, false) == NULL && errmsg_has("at [2, 2]"));
  dnn_data(ids)[4] = 0;
  CHECK(dnn_embedding(table, ids, false) == NULL && errmsg_has("got id 0 at [2, 2]") && errmsg_has("mask_zero"));
  dnn_tensor *y = dnn_embedding(table, ids, true);
  CHECK(y != NULL);
  dnn_tensor_release(y);

  dnn_tensor *flat = dnn_zeros(1, (int64_t[]){5});
  CHECK(dnn_embedding(flat, ids, true) == NULL && errmsg_has("2-d table") && errmsg_has("(5)"));
  dnn_tensor *g = dnn_zeros(3, (int64_t[]){2, 4, 3});
  CHECK(dnn_embedding_grad(g, ids, 5, true) == NULL && errmsg_has("'embedding_grad'") && errmsg_has("(2, 3)") &&
        errmsg_has("(2, 4, 3)"));
  dnn_tensor *g2 = dnn_zeros(3, (int64_t[]){2, 3, 3});
  CHECK(dnn_embedding_grad(g2, ids, 0, true) == NULL && errmsg_has("at least 1 row"));
  CHECK(dnn_embedding_grad(g2, ids, 3, true) == NULL && errmsg_has("1..3") && errmsg_has("got 4 at [2, 1]"));
  dnn_tensor_release(g2);
  dnn_tensor_release(g);
  dnn_tensor_release(flat);
  dnn_tensor_release(ids);
  dnn_tensor_release(table);
}

int main(void) {
  test_values();
  test_gradients();
  test_second_order();
  test_threads();
  test_ids_views_and_copies();
  test_errors();
  return check_report("test_nn_embedding");
}

/* ONNX files (core/onnx.h): a description written and read back field by
 * field, every prefix of a file refused or read without a crash, a file
 * round trip, and the reader's errors naming the source. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "temp_files.h"

static char *str(const char *s) { return strdup(s); }

/* One Relu node with an int, a float, an ints and a string attribute; a
 * float (2, 3) and an int64 (2) initializer; input x (batch, 3). */
static dnn_onnx_model *sample(void) {
  dnn_onnx_model *m = calloc(1, sizeof *m);
  m->ir_version = 8, m->opset = 13;
  m->producer_name = str("test"), m->producer_version = str("1"), m->graph_name = str("g");
  m->n_nodes = 1;
  m->nodes = calloc(1, sizeof *m->nodes);
  dnn_onnx_node *n = &m->nodes[0];
  n->name = str("relu_1"), n->op_type = str("Relu"), n->domain = str("");
  n->n_inputs = 1, n->inputs = calloc(1, sizeof(char *)), n->inputs[0] = str("x");
  n->n_outputs = 1, n->outputs = calloc(1, sizeof(char *)), n->outputs[0] = str("y");
  n->n_attrs = 4;
  n->attrs = calloc(4, sizeof *n->attrs);
  n->attrs[0].name = str("i"), n->attrs[0].type = DNN_ONNX_ATTR_INT, n->attrs[0].i = -7;
  n->attrs[1].name = str("f"), n->attrs[1].type = DNN_ONNX_ATTR_FLOAT, n->attrs[1].f = 0.25;
  n->attrs[2].name = str("is"), n->attrs[2].type = DNN_ONNX_ATTR_INTS, n->attrs[2].n = 2;
  n->attrs[2].ints = malloc(2 * sizeof(int64_t)), n->attrs[2].ints[0] = 1, n->attrs[2].ints[1] = -2;
  n->attrs[3].name = str("s"), n->attrs[3].type = DNN_ONNX_ATTR_STRING, n->attrs[3].s = str("SAME_UPPER");
  n->attrs[3].s_len = 10;
  m->n_initializers = 2;
  m->initializers = calloc(2, sizeof *m->initializers);
  const float w[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3};
  m->initializers[0].name = str("w"), m->initializers[0].ndim = 2;
  m->initializers[0].dims[0] = 2, m->initializers[0].dims[1] = 3;
  m->initializers[0].values = dnn_from_data(w, 2, shape);
  m->initializers[1].name = str("shape"), m->initializers[1].is_int = 1, m->initializers[1].ndim = 1;
  m->initializers[1].dims[0] = 2;
  m->initializers[1].ints = malloc(2 * sizeof(int64_t)), m->initializers[1].ints[0] = 0,
  m->initializers[1].ints[1] = -1;
  m->n_inputs = 1, m->inputs = calloc(1, sizeof *m->inputs);
  m->inputs[0].name = str("x"), m->inputs[0].elem_type = DNN_ONNX_FLOAT, m->inputs[0].ndim = 2;
  m->inputs[0].dims[0] = -1, m->inputs[0].dims[1] = 3, m->inputs[0].dim_params[0] = str("batch");
  m->n_outputs = 1, m->outputs = calloc(1, sizeof *m->outputs);
  m->outputs[0].name = str("y"), m->outputs[0].elem_type = DNN_ONNX_FLOAT, m->outputs[0].ndim = -1;
  return m;
}

static void check_same(const dnn_onnx_model *a, const dnn_onnx_model *b) {
  CHECK(b->opset == 13 && b->ir_version == 8);
  CHECK(strcmp(b->producer_name, "test") == 0 && strcmp(b->graph_name, "g") == 0);
  CHECK(b->n_nodes == 1 && strcmp(b->nodes[0].op_type, "Relu") == 0 && strcmp(b->nodes[0].name, "relu_1") == 0);
  CHECK(b->nodes[0].n_attrs == 4);
  CHECK(b->nodes[0].attrs[0].type == DNN_ONNX_ATTR_INT && b->nodes[0].attrs[0].i == -7);
  CHECK(b->nodes[0].attrs[1].type == DNN_ONNX_ATTR_FLOAT && b->nodes[0].attrs[1].f == 0.25);
  CHECK(b->nodes[0].attrs[2].n == 2 && b->nodes[0].attrs[2].ints[1] == -2);
  CHECK(b->nodes[0].attrs[3].s_len == 10 && strcmp(b->nodes[0].attrs[3].s, "SAME_UPPER") == 0);
  CHECK(b->n_initializers == 2 && b->initializers[0].ndim == 2 && b->initializers[0].dims[1] == 3);
  const float *v = b->initializers[0].values->storage->data + b->initializers[0].values->offset;
  const float *want = a->initializers[0].values->storage->data;
  CHECK(memcmp(v, want, 6 * sizeof(float)) == 0);
  CHECK(b->initializers[1].is_int && b->initializers[1].numel == 2 && b->initializers[1].ints[1] == -1);
  CHECK(b->n_inputs == 1 && b->inputs[0].ndim == 2 && b->inputs[0].dims[0] == -1 && b->inputs[0].dims[1] == 3);
  CHECK(b->inputs[0].dim_params[0] && strcmp(b->inputs[0].dim_params[0], "batch") == 0);
  CHECK(b->n_outputs == 1 && b->outputs[0].ndim == -1);
}

static void test_round_trip_and_prefixes(void) {
  dnn_onnx_model *m = sample();
  size_t n = 0;
  uint8_t *bytes = dnn_onnx_serialize(m, &n);
  CHECK(bytes != NULL && n > 0);
  dnn_onnx_model *back = dnn_onnx_parse(bytes, n, NULL);
  CHECK(back != NULL);
  if (back) check_same(m, back);
  dnn_onnx_free(back);
  /* every prefix is read or refused with a message, never a crash or a leak */
  int refused = 0;
  for (size_t k = 0; k < n; k++) {
    dnn_onnx_model *p = dnn_onnx_parse(bytes, k, NULL);
    if (!p) {
      refused++;
      CHECK(strstr(dnn_errmsg(), "onnx.load: bytes: ") != NULL);
    }
    dnn_onnx_free(p);
  }
  CHECK(refused > 0);
  const char *path = temp_path("m.onnx");
  CHECK(dnn_onnx_write(path, m) == DNN_OK);
  CHECK(temp_file_size(path) == (long)n);
  back = dnn_onnx_read(path);
  CHECK(back != NULL);
  if (back) check_same(m, back);
  dnn_onnx_free(back);
  free(bytes);
  dnn_onnx_free(m);
}

static void test_errors(void) {
  CHECK(dnn_onnx_read(temp_path("missing.onnx")) == NULL);
  CHECK(dnn_errcode() == DNN_EIO && strstr(dnn_errmsg(), "missing.onnx") != NULL);
  CHECK(dnn_onnx_parse((const uint8_t *)"", 0, "x.onnx") == NULL);
  CHECK(strstr(dnn_errmsg(), "x.onnx: empty") != NULL);
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x01};
  CHECK(dnn_onnx_parse(junk, sizeof junk, NULL) == NULL);
  CHECK(dnn_errcode() == DNN_EFORMAT && strstr(dnn_errmsg(), "not an ONNX model") != NULL);
  /* a tensor whose values do not match its dims is refused by the writer */
  dnn_onnx_model *m = sample();
  m->initializers[0].dims[1] = 4;
  size_t n;
  CHECK(dnn_onnx_serialize(m, &n) == NULL);
  CHECK(strstr(dnn_errmsg(), "tensor 'w'") != NULL);
  dnn_onnx_free(m);
  dnn_onnx_free(NULL);
}

int main(void) {
  if (!temp_dir_make("onnx")) return 1;
  test_round_trip_and_prefixes();
  test_errors();
  temp_dir_remove();
  return check_report("test_onnx");
}

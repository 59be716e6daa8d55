/* Reading ONNX files: protobuf-c unpacks the ModelProto (it allocates in
 * proportion to the bytes it is given, and the byte count is capped), then
 * the parts dnnlua reads are copied into the plain description of onnx.h.
 * Every tensor's dims are checked (rank, sign, overflow) and its element
 * count times element size against the bytes or values it carries before
 * its data is allocated; data in external files is refused. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dnn/onnx.h"
#include "onnx.pb-c.h"

#define FN "onnx.load"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian: this reader assumes a little-endian host"
#endif

/* TensorProto.DataType codes beyond those of onnx.h. */
enum { T_UINT8 = 2, T_INT8 = 3, T_UINT16 = 4, T_INT16 = 5, T_FLOAT16 = 10, T_UINT32 = 12, T_BFLOAT16 = 16 };

static char *dup_str(const char *s) { return strdup(s ? s : ""); }

/* Bytes per element of a data type read here, or 0 for one refused. */
static size_t element_size(int type) {
  switch (type) {
    case DNN_ONNX_FLOAT:
    case DNN_ONNX_INT32:
    case T_UINT32:
      return 4;
    case DNN_ONNX_DOUBLE:
    case DNN_ONNX_INT64:
      return 8;
    case T_FLOAT16:
    case T_BFLOAT16:
    case T_INT16:
    case T_UINT16:
      return 2;
    case T_UINT8:
    case T_INT8:
    case DNN_ONNX_BOOL:
      return 1;
    default:
      return 0;
  }
}

static int is_floating(int type) {
  return type == DNN_ONNX_FLOAT || type == DNN_ONNX_DOUBLE || type == T_FLOAT16 || type == T_BFLOAT16;
}

static float half_to_float(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  float v;
  if (exp == 0) {
    v = ldexpf((float)frac, -24);
  } else if (exp == 31) {
    v = frac ? NAN : INFINITY;
  } else {
    v = ldexpf((float)(frac | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

static float bfloat_to_float(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Element i of raw little-endian data of the type, as a double (floats) or int64. */
static double raw_float(const uint8_t *p, int type, int64_t i) {
  if (type == DNN_ONNX_FLOAT) {
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  if (type == DNN_ONNX_DOUBLE) {
    double v;
    memcpy(&v, p + 8 * i, 8);
    return v;
  }
  uint16_t h;
  memcpy(&h, p + 2 * i, 2);
  return type == T_FLOAT16 ? half_to_float(h) : bfloat_to_float(h);
}

static int64_t raw_int(const uint8_t *p, int type, int64_t i) {
  switch (type) {
    case DNN_ONNX_INT64: {
      int64_t v;
      memcpy(&v, p + 8 * i, 8);
      return v;
    }
    case DNN_ONNX_INT32: {
      int32_t v;
      memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case T_UINT32: {
      uint32_t v;
      memcpy(&v, p + 4 * i, 4);
      return v;
    }
    case T_INT16: {
      int16_t v;
      memcpy(&v, p + 2 * i, 2);
      return v;
    }
    case T_UINT16: {
      uint16_t v;
      memcpy(&v, p + 2 * i, 2);
      return v;
    }
    case T_INT8:
      return (int8_t)p[i];
    default:
      return p[i];
  }
}

/* The typed field holding the values when raw_data is absent, and its count. */
static size_t typed_count(const Onnx__TensorProto *tp, int type) {
  switch (type) {
    case DNN_ONNX_FLOAT:
      return tp->n_float_data;
    case DNN_ONNX_DOUBLE:
      return tp->n_double_data;
    case DNN_ONNX_INT64:
      return tp->n_int64_data;
    case T_UINT32:
      return tp->n_uint64_data;
    default:
      return tp->n_int32_data; /* int32 and narrower, bool, float16 and bfloat16 bits */
  }
}

static double typed_float(const Onnx__TensorProto *tp, int type, int64_t i) {
  if (type == DNN_ONNX_FLOAT) return tp->float_data[i];
  if (type == DNN_ONNX_DOUBLE) return tp->double_data[i];
  uint16_t h = (uint16_t)tp->int32_data[i];
  return type == T_FLOAT16 ? half_to_float(h) : bfloat_to_float(h);
}

static int64_t typed_int(const Onnx__TensorProto *tp, int type, int64_t i) {
  if (type == DNN_ONNX_INT64) return tp->int64_data[i];
  if (type == T_UINT32) return (int64_t)tp->uint64_data[i];
  return tp->int32_data[i];
}

/* Copies a TensorProto into out (zeroed by the caller). where: the file, for messages. */
static dnn_status read_tensor(const Onnx__TensorProto *tp, dnn_onnx_tensor *out, const char *where) {
  const char *name = tp->name ? tp->name : "";
  out->name = dup_str(name);
  if (!out->name) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  if (tp->n_external_data > 0 || (tp->has_data_location && tp->data_location != 0)) {
    return dnn_error(DNN_EFORMAT, FN,
                     "%s: tensor '%s' keeps its data in an external file, which is refused (save the model with its "
                     "weights inside)",
                     where, name);
  }
  if (tp->segment) return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' is segmented, which is refused", where, name);
  int type = tp->has_data_type ? tp->data_type : 0;
  size_t size = element_size(type);
  if (size == 0) {
    return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' has data type %d, which dnnlua does not read", where, name,
                     type);
  }
  if (tp->n_dims > DNN_MAX_DIMS) {
    return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' has %zu dims (at most %d)", where, name, tp->n_dims,
                     DNN_MAX_DIMS);
  }
  int64_t numel = 1;
  for (size_t d = 0; d < tp->n_dims; d++) {
    int64_t k = tp->dims[d];
    if (k < 0)
      return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' has a negative dim (%lld)", where, name, (long long)k);
    if (k > 0 && numel > INT64_MAX / 8 / k) {
      return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' is too large", where, name);
    }
    numel *= k;
    out->dims[d] = k;
  }
  out->ndim = (int)tp->n_dims;
  out->numel = numel;
  int from_raw = tp->has_raw_data;
  if (from_raw && (uint64_t)tp->raw_data.len != (uint64_t)numel * size) {
    return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' has %lld elements of %zu bytes, but %zu bytes of data", where,
                     name, (long long)numel, size, tp->raw_data.len);
  }
  if (!from_raw && typed_count(tp, type) != (size_t)numel) {
    return dnn_error(DNN_EFORMAT, FN, "%s: tensor '%s' has %lld elements, but %zu values", where, name,
                     (long long)numel, typed_count(tp, type));
  }
  if (is_floating(type)) {
    out->values = dnn_empty(out->ndim, out->dims);
    if (!out->values) return DNN_ENOMEM;
    float *dst = out->values->storage->data + out->values->offset;
    for (int64_t i = 0; i < numel; i++) {
      dst[i] = (float)(from_raw ? raw_float(tp->raw_data.data, type, i) : typed_float(tp, type, i));
    }
  } else {
    out->is_int = 1;
    out->ints = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(int64_t));
    if (!out->ints) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory for tensor '%s'", where, name);
    for (int64_t i = 0; i < numel; i++)
      out->ints[i] = from_raw ? raw_int(tp->raw_data.data, type, i) : typed_int(tp, type, i);
  }
  return DNN_OK;
}

static dnn_status read_attr(const Onnx__AttributeProto *ap, dnn_onnx_attr *out, const char *node, const char *where) {
  out->name = dup_str(ap->name);
  if (!out->name) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  out->type = (dnn_onnx_attr_type)ap->type;
  switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
      out->f = ap->f;
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
      out->i = ap->i;
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
      out->s = malloc(ap->s.len + 1);
      if (!out->s) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
      if (ap->s.len) memcpy(out->s, ap->s.data, ap->s.len);
      out->s[ap->s.len] = '\0';
      out->s_len = ap->s.len;
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
      if (!ap->t)
        return dnn_error(DNN_EFORMAT, FN, "%s: attribute '%s' of node '%s' holds no tensor", where, out->name, node);
      out->t = calloc(1, sizeof *out->t);
      if (!out->t) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
      return read_tensor(ap->t, out->t, where);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
      out->n = (int64_t)ap->n_floats;
      out->floats = malloc((ap->n_floats + 1) * sizeof(double));
      if (!out->floats) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
      for (size_t k = 0; k < ap->n_floats; k++) out->floats[k] = ap->floats[k];
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
      out->n = (int64_t)ap->n_ints;
      out->ints = malloc((ap->n_ints + 1) * sizeof(int64_t));
      if (!out->ints) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
      if (ap->n_ints) memcpy(out->ints, ap->ints, ap->n_ints * sizeof(int64_t));
      return DNN_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
      out->strings = calloc(ap->n_strings + 1, sizeof(char *));
      if (!out->strings) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
      out->n = (int64_t)ap->n_strings;
      for (size_t k = 0; k < ap->n_strings; k++) {
        out->strings[k] = malloc(ap->strings[k].len + 1);
        if (!out->strings[k]) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
        if (ap->strings[k].len) memcpy(out->strings[k], ap->strings[k].data, ap->strings[k].len);
        out->strings[k][ap->strings[k].len] = '\0';
      }
      return DNN_OK;
    default:
      return dnn_error(DNN_EFORMAT, FN, "%s: attribute '%s' of node '%s' has type %d, which dnnlua does not read",
                       where, out->name, node, (int)ap->type);
  }
}

static char **dup_list(char *const *src, size_t n) {
  char **out = calloc(n + 1, sizeof(char *));
  if (!out) return NULL;
  for (size_t k = 0; k < n; k++) {
    out[k] = dup_str(src[k]);
    if (!out[k]) return out; /* freed by the caller (counted in full) */
  }
  return out;
}

static dnn_status read_node(const Onnx__NodeProto *np, dnn_onnx_node *out, const char *where) {
  out->name = dup_str(np->name);
  out->op_type = dup_str(np->op_type);
  out->domain = dup_str(np->domain);
  out->n_inputs = (int)np->n_input;
  out->n_outputs = (int)np->n_output;
  out->inputs = dup_list(np->input, np->n_input);
  out->outputs = dup_list(np->output, np->n_output);
  out->attrs = calloc(np->n_attribute + 1, sizeof *out->attrs);
  if (!out->name || !out->op_type || !out->domain || !out->inputs || !out->outputs || !out->attrs) {
    return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  }
  for (int k = 0; k < out->n_inputs; k++) {
    if (!out->inputs[k]) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  }
  for (int k = 0; k < out->n_outputs; k++) {
    if (!out->outputs[k]) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  }
  for (size_t k = 0; k < np->n_attribute; k++) {
    out->n_attrs = (int)k + 1;
    dnn_status st = read_attr(np->attribute[k], &out->attrs[k], out->name, where);
    if (st != DNN_OK) return st;
  }
  return DNN_OK;
}

static dnn_status read_value(const Onnx__ValueInfoProto *vp, dnn_onnx_value *out, const char *where) {
  out->name = dup_str(vp->name);
  if (!out->name) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  out->ndim = -1;
  const Onnx__TypeProto *type = vp->type;
  if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type) {
    return dnn_error(DNN_EFORMAT, FN, "%s: graph input or output '%s' is not a tensor", where, out->name);
  }
  out->elem_type = type->tensor_type->elem_type;
  const Onnx__TensorShapeProto *shape = type->tensor_type->shape;
  if (!shape) return DNN_OK;
  if (shape->n_dim > DNN_MAX_DIMS) {
    return dnn_error(DNN_EFORMAT, FN, "%s: '%s' has %zu dims (at most %d)", where, out->name, shape->n_dim,
                     DNN_MAX_DIMS);
  }
  out->ndim = (int)shape->n_dim;
  for (size_t d = 0; d < shape->n_dim; d++) {
    const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
    out->dims[d] = -1;
    if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && dim->dim_value >= 0) {
      out->dims[d] = dim->dim_value;
    } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
      out->dim_params[d] = dup_str(dim->dim_param);
      if (!out->dim_params[d]) return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
    }
  }
  return DNN_OK;
}

static int is_initializer(const Onnx__GraphProto *g, const char *name) {
  for (size_t k = 0; k < g->n_initializer; k++) {
    if (g->initializer[k]->name && strcmp(g->initializer[k]->name, name) == 0) return 1;
  }
  return 0;
}

static dnn_status read_graph(const Onnx__ModelProto *pm, dnn_onnx_model *m, const char *where) {
  const Onnx__GraphProto *g = pm->graph;
  if (!g) return dnn_error(DNN_EFORMAT, FN, "%s: the model has no graph", where);
  m->graph_name = dup_str(g->name);
  m->nodes = calloc(g->n_node + 1, sizeof *m->nodes);
  m->initializers = calloc(g->n_initializer + 1, sizeof *m->initializers);
  m->inputs = calloc(g->n_input + 1, sizeof *m->inputs);
  m->outputs = calloc(g->n_output + 1, sizeof *m->outputs);
  if (!m->graph_name || !m->nodes || !m->initializers || !m->inputs || !m->outputs) {
    return dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  }
  if (g->n_sparse_initializer > 0) return dnn_error(DNN_EFORMAT, FN, "%s: sparse initializers are not read", where);
  dnn_status st = DNN_OK;
  for (size_t k = 0; k < g->n_node && st == DNN_OK; k++) {
    m->n_nodes = (int)k + 1;
    st = read_node(g->node[k], &m->nodes[k], where);
  }
  for (size_t k = 0; k < g->n_initializer && st == DNN_OK; k++) {
    m->n_initializers = (int)k + 1;
    st = read_tensor(g->initializer[k], &m->initializers[k], where);
  }
  for (size_t k = 0; k < g->n_input && st == DNN_OK; k++) {
    if (g->input[k]->name && is_initializer(g, g->input[k]->name)) continue; /* IR < 4 lists weights as inputs */
    st = read_value(g->input[k], &m->inputs[m->n_inputs++], where);
  }
  for (size_t k = 0; k < g->n_output && st == DNN_OK; k++) {
    m->n_outputs = (int)k + 1;
    st = read_value(g->output[k], &m->outputs[k], where);
  }
  return st;
}

dnn_onnx_model *dnn_onnx_parse(const uint8_t *bytes, size_t n, const char *what) {
  const char *where = what ? what : "bytes";
  if (n > DNN_ONNX_MAX_BYTES) {
    dnn_error(DNN_EFORMAT, FN, "%s: %zu bytes, more than an ONNX file may hold (%zu)", where, n, DNN_ONNX_MAX_BYTES);
    return NULL;
  }
  if (n == 0) {
    dnn_error(DNN_EFORMAT, FN, "%s: empty, not an ONNX model", where);
    return NULL;
  }
  Onnx__ModelProto *pm = onnx__model_proto__unpack(NULL, n, bytes);
  if (!pm) {
    dnn_error(DNN_EFORMAT, FN, "%s: not an ONNX model (the protobuf bytes are malformed or truncated)", where);
    return NULL;
  }
  dnn_onnx_model *m = calloc(1, sizeof *m);
  dnn_status st = m ? DNN_OK : dnn_error(DNN_ENOMEM, FN, "%s: out of memory", where);
  if (st == DNN_OK) {
    m->ir_version = pm->has_ir_version ? pm->ir_version : 0;
    m->producer_name = dup_str(pm->producer_name);
    m->producer_version = dup_str(pm->producer_version);
    m->opset = -1;
    for (size_t k = 0; k < pm->n_opset_import; k++) {
      const Onnx__OperatorSetIdProto *op = pm->opset_import[k];
      if (!op->domain || op->domain[0] == '\0' || strcmp(op->domain, "ai.onnx") == 0) m->opset = op->version;
    }
    if (m->opset < 1)
      st = dnn_error(DNN_EFORMAT, FN, "%s: the model imports no opset of the default ONNX domain", where);
  }
  if (st == DNN_OK) st = read_graph(pm, m, where);
  onnx__model_proto__free_unpacked(pm, NULL);
  if (st != DNN_OK) {
    dnn_onnx_free(m);
    return NULL;
  }
  return m;
}

dnn_onnx_model *dnn_onnx_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    dnn_error(DNN_EIO, FN, "%s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    dnn_error(DNN_EIO, FN, "%s: not a regular file", path);
    return NULL;
  }
  if ((uint64_t)sb.st_size > DNN_ONNX_MAX_BYTES) {
    fclose(f);
    dnn_error(DNN_EFORMAT, FN, "%s: %lld bytes, more than an ONNX file may hold (%zu)", path, (long long)sb.st_size,
              DNN_ONNX_MAX_BYTES);
    return NULL;
  }
  size_t n = (size_t)sb.st_size;
  uint8_t *bytes = malloc(n ? n : 1);
  if (!bytes) {
    fclose(f);
    dnn_error(DNN_ENOMEM, FN, "%s: out of memory for %zu bytes", path, n);
    return NULL;
  }
  size_t got = fread(bytes, 1, n, f);
  fclose(f);
  if (got != n) {
    free(bytes);
    dnn_error(DNN_EIO, FN, "%s: read %zu of %zu bytes", path, got, n);
    return NULL;
  }
  dnn_onnx_model *m = dnn_onnx_parse(bytes, n, path);
  free(bytes);
  return m;
}

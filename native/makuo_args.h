/* What the addon's calls share to read their arguments. */
#ifndef MAKUO_ARGS_H
#define MAKUO_ARGS_H

#include <node_api.h>
#include <stdbool.h>

/* the typed array `v`'s data and length in elements, when it is of `want` */
static inline bool typed_arg(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

#endif

/* tiny_runtime: the minimal C runtime that mini_llm builds on (a stand-in for TVM's). */
#ifndef TINY_RUNTIME_TINY_RUNTIME_H_
#define TINY_RUNTIME_TINY_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(TINY_RUNTIME_EXPORTS)
#define TINY_RUNTIME_API __declspec(dllexport)
#else
#define TINY_RUNTIME_API __declspec(dllimport)
#endif
#else
#define TINY_RUNTIME_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A registered function: reads a text, writes one number, returns 0 or -1 (see last error). */
typedef int (*TinyRuntimeFunc)(const char* text, double* out);

TINY_RUNTIME_API const char* TinyRuntimeVersion(void);

/* 32-bit FNV-1a hash of `len` bytes. */
TINY_RUNTIME_API uint32_t TinyRuntimeHashBytes(const void* data, size_t len);

/* Registers `func` under `name`; replaces an earlier entry. Returns 0, or -1 on bad input. */
TINY_RUNTIME_API int TinyRuntimeRegister(const char* name, TinyRuntimeFunc func);

/* The function registered under `name`, or NULL (and the last error is set). */
TINY_RUNTIME_API TinyRuntimeFunc TinyRuntimeLookup(const char* name);

/* Comma-separated registered names, sorted; valid until the next call on this thread. */
TINY_RUNTIME_API const char* TinyRuntimeListFunctions(void);

/* Per-thread error message of the last failing call ("" when none). */
TINY_RUNTIME_API const char* TinyRuntimeGetLastError(void);
TINY_RUNTIME_API void TinyRuntimeSetLastError(const char* message);

#ifdef __cplusplus
}
#endif

#endif /* TINY_RUNTIME_TINY_RUNTIME_H_ */

/* mini_llm C API: what the Python package calls through ctypes. */
#ifndef MINI_LLM_C_API_H_
#define MINI_LLM_C_API_H_

#include <stdint.h>

#if defined(_WIN32)
#define MINI_LLM_EXPORT __declspec(dllexport)
#define MINI_LLM_IMPORT __declspec(dllimport)
#else
#define MINI_LLM_EXPORT __attribute__((visibility("default")))
#define MINI_LLM_IMPORT
#endif

#if defined(MINI_LLM_EXPORTS)
#define MINI_LLM_API MINI_LLM_EXPORT
#else
#define MINI_LLM_API MINI_LLM_IMPORT
#endif

#if defined(MINI_LLM_MODULE_EXPORTS)
#define MINI_LLM_MODULE_API MINI_LLM_EXPORT
#else
#define MINI_LLM_MODULE_API MINI_LLM_IMPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the hashed vocabulary: token ids are in [0, MINI_LLM_VOCAB_SIZE). */
#define MINI_LLM_VOCAB_SIZE 32000

/* ---- libmini_llm ---- */
MINI_LLM_API const char* MiniLLMVersion(void);

/* JSON object: version, compiler, system, compiled-in backends, config.cmake USE_* values. */
MINI_LLM_API const char* MiniLLMBuildInfo(void);

/* Lower-cases ASCII letters, splits on anything that is not a letter or digit, and maps each
 * token to FNV-1a(token) % MINI_LLM_VOCAB_SIZE. Writes at most `capacity` ids, stores the total
 * count in *num_tokens. Returns 0, or -1 on bad arguments (see MiniLLMGetLastError). */
MINI_LLM_API int MiniLLMTokenize(const char* text, int32_t* ids, int32_t capacity,
                                 int32_t* num_tokens);

/* Mean over tokens of log(1 + id) / log(MINI_LLM_VOCAB_SIZE); 0 for a text with no tokens. */
MINI_LLM_API int MiniLLMScore(const char* text, double* out);

/* Registers this library's functions in the tiny runtime; idempotent. Returns 0 or -1. */
MINI_LLM_API int MiniLLMRegisterFunctions(void);

MINI_LLM_API const char* MiniLLMGetLastError(void);

/* ---- libmini_llm_module ---- */

/* Calls the runtime function `name` (e.g. "mini_llm.score") on `text`. Returns 0 or -1. */
MINI_LLM_MODULE_API int MiniLLMModuleInvoke(const char* name, const char* text, double* out);

/* Comma-separated names of the functions the module can invoke. */
MINI_LLM_MODULE_API const char* MiniLLMModuleListFunctions(void);

#ifdef __cplusplus
}
#endif

#endif /* MINI_LLM_C_API_H_ */

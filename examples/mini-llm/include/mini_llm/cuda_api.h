/* libmini_llm_cuda C API. Every function returns 0 on success or a non-zero cudaError_t value;
 * none of them aborts when there is no driver or no device. */
#ifndef MINI_LLM_CUDA_API_H_
#define MINI_LLM_CUDA_API_H_

#include <stddef.h>

#if defined(_WIN32)
#if defined(MINI_LLM_CUDA_EXPORTS)
#define MINI_LLM_CUDA_API __declspec(dllexport)
#else
#define MINI_LLM_CUDA_API __declspec(dllimport)
#endif
#else
#define MINI_LLM_CUDA_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* CUDA runtime version the library runs against, e.g. 13000. */
MINI_LLM_CUDA_API int MiniLLMCudaRuntimeVersion(int* version);
MINI_LLM_CUDA_API int MiniLLMCudaDeviceCount(int* count);
/* Name and compute capability (major * 10 + minor) of device `device`. */
MINI_LLM_CUDA_API int MiniLLMCudaDeviceInfo(int device, char* name, size_t name_len, int* cc);
/* out[i] = a * x[i] + y[i] for i < n, computed on the current device. */
MINI_LLM_CUDA_API int MiniLLMCudaSaxpy(int n, float a, const float* x, const float* y,
                                       float* out);
MINI_LLM_CUDA_API const char* MiniLLMCudaErrorString(int code);

#ifdef __cplusplus
}
#endif

#endif /* MINI_LLM_CUDA_API_H_ */

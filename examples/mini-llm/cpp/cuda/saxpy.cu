// libmini_llm_cuda: one real kernel behind a C API that reports errors instead of aborting.
#include <cuda_runtime.h>

#include "mini_llm/cuda_api.h"

namespace {

__global__ void SaxpyKernel(int n, float a, const float* x, const float* y, float* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}

}  // namespace

extern "C" {

int MiniLLMCudaRuntimeVersion(int* version) {
  if (version == nullptr) return cudaErrorInvalidValue;
  return cudaRuntimeGetVersion(version);
}

int MiniLLMCudaDeviceCount(int* count) {
  if (count == nullptr) return cudaErrorInvalidValue;
  *count = 0;
  cudaError_t err = cudaGetDeviceCount(count);
  if (err != cudaSuccess) *count = 0;
  return err;
}

int MiniLLMCudaDeviceInfo(int device, char* name, size_t name_len, int* cc) {
  if (name == nullptr || name_len == 0 || cc == nullptr) return cudaErrorInvalidValue;
  cudaDeviceProp prop;
  cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) return err;
  size_t i = 0;
  for (; i + 1 < name_len && prop.name[i] != '\0'; ++i) name[i] = prop.name[i];
  name[i] = '\0';
  *cc = prop.major * 10 + prop.minor;
  return cudaSuccess;
}

int MiniLLMCudaSaxpy(int n, float a, const float* x, const float* y, float* out) {
  if (n < 0 || (n > 0 && (x == nullptr || y == nullptr || out == nullptr))) {
    return cudaErrorInvalidValue;
  }
  if (n == 0) return cudaSuccess;
  size_t bytes = static_cast<size_t>(n) * sizeof(float);
  float* d_x = nullptr;
  float* d_y = nullptr;
  float* d_out = nullptr;
  cudaError_t err = cudaMalloc(&d_x, bytes);
  if (err == cudaSuccess) err = cudaMalloc(&d_y, bytes);
  if (err == cudaSuccess) err = cudaMalloc(&d_out, bytes);
  if (err == cudaSuccess) err = cudaMemcpy(d_x, x, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) err = cudaMemcpy(d_y, y, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    const int threads = 256;
    SaxpyKernel<<<(n + threads - 1) / threads, threads>>>(n, a, d_x, d_y, d_out);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(out, d_out, bytes, cudaMemcpyDeviceToHost);
  cudaFree(d_x);
  cudaFree(d_y);
  cudaFree(d_out);
  return err;
}

const char* MiniLLMCudaErrorString(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}

}  // extern "C"

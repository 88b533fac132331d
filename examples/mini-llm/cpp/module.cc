// libmini_llm_module: the "compiled model" side, reaching mini_llm's functions through the
// runtime registry (as MLC-LLM's module library reaches the engine through TVM).
#include <string>

#include "mini_llm/c_api.h"
#include "tiny_runtime/tiny_runtime.h"

extern "C" {

int MiniLLMModuleInvoke(const char* name, const char* text, double* out) {
  // A direct call keeps libmini_llm a real (not as-needed-dropped) dependency of this library.
  if (MiniLLMRegisterFunctions() != 0) return -1;
  if (name == nullptr || text == nullptr || out == nullptr) {
    TinyRuntimeSetLastError("MiniLLMModuleInvoke: null argument");
    return -1;
  }
  TinyRuntimeFunc func = TinyRuntimeLookup(name);
  if (func == nullptr) return -1;
  return func(text, out);
}

const char* MiniLLMModuleListFunctions(void) {
  if (MiniLLMRegisterFunctions() != 0) return "";
  return TinyRuntimeListFunctions();
}

}  // extern "C"

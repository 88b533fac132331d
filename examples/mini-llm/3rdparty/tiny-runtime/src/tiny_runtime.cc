#include "tiny_runtime/tiny_runtime.h"

#include <map>
#include <mutex>
#include <string>

namespace {

// Function-local statics: safe to use from other libraries' static initialisers.
std::map<std::string, TinyRuntimeFunc>& Registry() {
  static std::map<std::string, TinyRuntimeFunc> registry;
  return registry;
}

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

std::string& LastError() {
  thread_local std::string message;
  return message;
}

}  // namespace

extern "C" {

const char* TinyRuntimeVersion(void) { return TINY_RUNTIME_VERSION; }

uint32_t TinyRuntimeHashBytes(const void* data, size_t len) {
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < len; ++i) {
    hash ^= bytes[i];
    hash *= 16777619u;
  }
  return hash;
}

int TinyRuntimeRegister(const char* name, TinyRuntimeFunc func) {
  if (name == nullptr || *name == '\0' || func == nullptr) {
    TinyRuntimeSetLastError("TinyRuntimeRegister: empty name or null function");
    return -1;
  }
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[name] = func;
  return 0;
}

TinyRuntimeFunc TinyRuntimeLookup(const char* name) {
  if (name != nullptr) {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(name);
    if (it != Registry().end()) return it->second;
  }
  TinyRuntimeSetLastError(
      (std::string("no function registered as '") + (name ? name : "(null)") + "'").c_str());
  return nullptr;
}

const char* TinyRuntimeListFunctions(void) {
  thread_local std::string names;
  names.clear();
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (const auto& entry : Registry()) {
    if (!names.empty()) names += ',';
    names += entry.first;
  }
  return names.c_str();
}

const char* TinyRuntimeGetLastError(void) { return LastError().c_str(); }

void TinyRuntimeSetLastError(const char* message) { LastError() = message ? message : ""; }

}  // extern "C"

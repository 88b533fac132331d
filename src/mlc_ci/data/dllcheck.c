/* dllcheck: load a package's DLLs the way Python does, to prove a repaired Windows wheel works.
 *
 * Usage: dllcheck.exe LIBS_DIR PACKAGE_DIR
 * LIBS_DIR is the folder delvewheel grafted dependencies into (the package adds it with
 * os.add_dll_directory at import). Every *.dll in PACKAGE_DIR is loaded with its own folder
 * searched first, as ctypes.CDLL(full_path) does. Exit status: 0 when all load, else 1.
 */
#include <stdio.h>
#include <windows.h>

int main(int argc, char **argv) {
  char pattern[MAX_PATH], path[MAX_PATH];
  WIN32_FIND_DATAA found;
  HANDLE search;
  int failed = 0, loaded = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: dllcheck LIBS_DIR PACKAGE_DIR\n");
    return 2;
  }
  if (!SetDllDirectoryA(argv[1])) {
    printf("dllcheck: cannot add %s (error %lu)\n", argv[1], GetLastError());
    return 1;
  }
  snprintf(pattern, sizeof(pattern), "%s\\*.dll", argv[2]);
  search = FindFirstFileA(pattern, &found);
  if (search == INVALID_HANDLE_VALUE) {
    printf("dllcheck: no DLL in %s\n", argv[2]);
    return 1;
  }
  do {
    snprintf(path, sizeof(path), "%s\\%s", argv[2], found.cFileName);
    if (LoadLibraryExA(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH) == NULL) {
      printf("dllcheck: FAILED %s (error %lu)\n", path, GetLastError());
      failed = 1;
    } else {
      printf("dllcheck: loaded %s\n", path);
      ++loaded;
    }
  } while (FindNextFileA(search, &found));
  FindClose(search);
  return failed || loaded == 0;
}

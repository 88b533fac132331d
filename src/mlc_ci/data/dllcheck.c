/* dllcheck: load a package's DLLs the way Python does, to prove a repaired Windows wheel works.
 *
 * Usage: dllcheck.exe SEARCH_DIRS PACKAGE_DIRS   (each a ';'-separated list of folders)
 * SEARCH_DIRS are added as os.add_dll_directory does at import (the folders delvewheel grafted
 * dependencies into, and a paired runtime wheel's package). Every *.dll of each PACKAGE_DIR is
 * loaded in order (a paired runtime's package first, as the project's import loads it first),
 * with its own folder searched first, as ctypes.CDLL(full_path) does. Exit status: 0 when all
 * load, else 1.
 */
#define _WIN32_WINNT 0x0602 /* AddDllDirectory, SetDefaultDllDirectories */
#include <stdio.h>
#include <string.h>
#include <windows.h>

static int add_search_dirs(char *dirs) {
  wchar_t wide[MAX_PATH];
  for (char *dir = strtok(dirs, ";"); dir != NULL; dir = strtok(NULL, ";")) {
    if (MultiByteToWideChar(CP_ACP, 0, dir, -1, wide, MAX_PATH) == 0 ||
        AddDllDirectory(wide) == NULL) {
      printf("dllcheck: cannot add %s (error %lu)\n", dir, GetLastError());
      return 0;
    }
  }
  return 1;
}

static int load_package(const char *dir, int *loaded) {
  char pattern[MAX_PATH], path[MAX_PATH];
  WIN32_FIND_DATAA found;
  HANDLE search;
  int failed = 0;
  snprintf(pattern, sizeof(pattern), "%s\\*.dll", dir);
  search = FindFirstFileA(pattern, &found);
  if (search == INVALID_HANDLE_VALUE) {
    printf("dllcheck: no DLL in %s\n", dir);
    return 1;
  }
  do {
    snprintf(path, sizeof(path), "%s\\%s", dir, found.cFileName);
    if (LoadLibraryExA(path, NULL,
                       LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS) ==
        NULL) {
      printf("dllcheck: FAILED %s (error %lu)\n", path, GetLastError());
      failed = 1;
    } else {
      printf("dllcheck: loaded %s\n", path);
      ++*loaded;
    }
  } while (FindNextFileA(search, &found));
  FindClose(search);
  return failed;
}

int main(int argc, char **argv) {
  int failed = 0, loaded = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: dllcheck SEARCH_DIRS PACKAGE_DIRS\n");
    return 2;
  }
  if (!SetDefaultDllDirectories(LOAD_LIBRARY_SEARCH_DEFAULT_DIRS) || !add_search_dirs(argv[1])) {
    return 1;
  }
  for (char *dir = strtok(argv[2], ";"); dir != NULL; dir = strtok(NULL, ";")) {
    failed |= load_package(dir, &loaded);
  }
  return failed || loaded == 0;
}

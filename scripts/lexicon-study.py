#!/usr/bin/env python3
"""A hand-made lexicon of platforms and build systems, stacked into the fusion.

    scripts/lexicon-study.py --train base-groups.jsonl --held-out base-heldout-groups.jsonl \
        --titles mined/*.yaml --held-out-titles bench/dev/*.yaml --mirrors <mirrors> \
        [--held-out-cases 65]

Symptom titles name where something broke ("fails on macOS", "breaks the
Windows build", "hangs on NVIDIA", "broke our internal Buck builds") in
words the culprit's paths rarely share: `metal/`, `.mm`, `d3d12/`,
`targets.bzl`. The learned associations would need many cases per word and
repository; a fixed lexicon needs none. Two signals, nothing learned:

- platform_match: the title names a platform and the change touches a file
  of that platform (the share of its files that do);
- build_match: the title speaks of building or compiling and the change
  touches a build file (the share of its files that are build files).

Stacked into the shipped logit out of fold as fusion-study.py does; prints
the logit without them, with each, and with both. Needs numpy and pyyaml;
the titles of training cases come from `rca cases mine` (same case ids).
"""
import importlib.util
import os
import re

import numpy as np

spec = importlib.util.spec_from_file_location(
    "fusion_study", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fusion-study.py"))
fs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fs)

# platform: (title words, path pieces, file extensions)
PLATFORMS = {
    "mac": ({"mac", "macs", "macos", "osx", "darwin", "apple", "ios", "iphone", "metal", "xcode"},
            {"mac", "macos", "osx", "darwin", "apple", "ios", "metal", "mtl", "cocoa", "objc",
             "xcode", "coreml", "mps"}, (".mm", ".m", ".swift")),
    "windows": ({"windows", "win", "win32", "win64", "msvc", "d3d", "d3d9", "d3d11", "d3d12",
                 "directx", "dxgi", "dx11", "dx12", "hlsl", "mingw", "cygwin"},
                {"win", "windows", "win32", "win64", "msvc", "d3d", "d3d9", "d3d11", "d3d12",
                 "dxgi", "dx11", "dx12", "hlsl", "wgl", "mingw", "cygwin", "dxc"},
                (".ps1", ".bat", ".vcxproj", ".sln", ".rc", ".def")),
    "android": ({"android", "aosp", "jni", "gradle"},
                {"android", "aosp", "jni", "gradle", "java"}, (".java", ".kt", ".gradle")),
    "linux": ({"linux", "x11", "wayland", "ubuntu", "debian", "fedora"},
              {"linux", "x11", "xlib", "xcb", "wayland", "glx", "drm"}, ()),
    "nvidia": ({"nvidia", "nv", "cuda", "tegra"}, {"nvidia", "nv", "cuda", "tegra"}, (".cu",)),
    "amd": ({"amd", "radeon", "rocm", "hip", "gfx90a", "gfx942", "gfx950", "gfx1100"},
            {"amd", "amdgpu", "radeon", "rocm", "rocdl", "hip"}, ()),
    "intel": ({"intel", "i915", "uhd"}, {"intel", "i915", "iris"}, ()),
    "arm": ({"arm", "arm64", "aarch64", "neon", "sve", "sme", "armv7", "armv8"},
            {"arm", "arm64", "aarch64", "neon", "sve", "sme", "armv7", "armv8"}, ()),
    "vulkan": ({"vulkan", "vk", "spirv", "swiftshader"},
               {"vulkan", "vk", "spirv", "swiftshader"}, ()),
    "opengl": ({"opengl", "gl", "gles", "webgl", "webgl2", "egl", "glx"},
               {"opengl", "gl", "gles", "gles2", "gles3", "egl", "glx"}, ()),
    "riscv": ({"riscv", "risc"}, {"riscv", "riscv64", "rv64"}, ()),
    "fuzz": ({"fuzzer", "fuzz", "fuzzing", "libfuzzer", "clusterfuzz", "ossfuzz"},
             {"fuzz", "fuzzer", "fuzzers", "fuzzing"}, ()),
}
BUILD_WORDS = {"build", "builds", "building", "compile", "compiles", "compiling", "compilation",
               "compiler", "link", "linker", "linking", "cmake", "gn", "bazel", "buck", "make",
               "meson", "kconfig", "defconfig", "toolchain", "deps"}
BUILD_NAMES = {"cmakelists.txt", "build.gn", "build", "build.bazel", "buck", "targets",
               "meson.build", "makefile", "kconfig", "deps", "setup.py", "pyproject.toml",
               "workspace", "module.bazel", "configure.ac", "makefile.am"}
BUILD_EXTS = (".cmake", ".gni", ".gn", ".bzl", ".bazel", ".mk", ".in", ".am")


def title_words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def pieces(path):
    """A path's pieces: split at / . _ - and at camelCase, lower-cased."""
    path = re.sub(r"([a-z])([A-Z])", r"\1 \2", path)
    return set(p for p in re.split(r"[/._\-\s]+", path.lower()) if p)


def platform_file(path, platforms):
    lower = path.lower()
    ps = pieces(path)
    return any(ps & PLATFORMS[p][1] or lower.endswith(PLATFORMS[p][2]) for p in platforms)


def build_file(path):
    lower = path.lower()
    return lower.rsplit("/", 1)[-1] in BUILD_NAMES or lower.endswith(BUILD_EXTS)


def signals(group, title, known):
    words = title_words(title)
    platforms = [p for p, (t, _, _) in PLATFORMS.items() if words & t]
    build = bool(words & BUILD_WORDS)
    out = np.zeros((len(group["ids"]), 2))
    for k, i in enumerate(group["ids"]):
        files = known.get(i, fs.UNKNOWN).files[:200]
        if not files:
            continue
        if platforms:
            out[k, 0] = sum(platform_file(f, platforms) for f in files) / len(files)
        if build:
            out[k, 1] = sum(build_file(f) for f in files) / len(files)
    return out


def main():
    a = fs.title_study_parser(__doc__).parse_args()
    train, held_out = fs.load_titled(a)
    known = fs.read_names(train + held_out, a.mirrors)
    for name, gs in (("training", train), ("held-out", held_out)):
        named = sum(any(title_words(g["title"]) & t for t, _, _ in PLATFORMS.values()) for g in gs)
        hit = sum(signals(g, g["title"], known)[g["y"], 0] > 0 for g in gs)
        print(f"{name}: {len(gs)} cases, {named} titles name a platform, "
              f"{hit} culprits touch a platform they name")
    train, held_out = ([fs.widen(g, signals(g, g["title"], known)) for g in gs]
                       for gs in (train, held_out))
    fs.evaluate_added(fs.added_last(["platform_match", "build_match"], train), train, held_out,
                      a.held_out_cases)


if __name__ == "__main__":
    main()

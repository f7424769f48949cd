#!/usr/bin/env python3
"""The layering check (dev/layout.md): every #include "..." of the project's
sources must name a header of the file's own layer or of a layer the table in
dev/layout.md lets it depend on; the table must have no cycle; each layer's
CMake target must link exactly the layers the table lists; and the layout
table of README.md must name every layer and top folder, and only paths that
exist.

usage: check-layout.py [ROOT]     (ROOT: the source tree, default: this script's ../)

Prints one line per violation to stderr, "FILE:LINE: ...", and exits 1; on
success one "layout: ok ..." line to stdout and exit 0.  Python 3 standard library only.
"""
import fnmatch
import os
import re
import sys

TABLE_HEADER = re.compile(r'^\|\s*layer\s*\|\s*CMake target\s*\|\s*may depend on\s*\|')
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
LINK = re.compile(r'target_link_libraries\s*\(([^)]*)\)', re.S)
SOURCE_SUFFIXES = ('.c', '.h')
NO_TARGET = ('-', '—')  # a layer built by no CMake target of its own


def read_table(root, errors):
    """{layer: (target, [dependencies])} in table order, from dev/layout.md."""
    path = os.path.join(root, 'dev', 'layout.md')
    layers = {}
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except OSError as e:
        errors.append(f'dev/layout.md: cannot read the layer table: {e.strerror}')
        return layers
    start = next((i for i, l in enumerate(lines) if TABLE_HEADER.match(l)), None)
    if start is None:
        errors.append('dev/layout.md: no table with the header "| layer | CMake target | may depend on |"')
        return layers
    for n, line in enumerate(lines[start + 2:], start + 3):
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 3:
            errors.append(f'dev/layout.md:{n}: a table row needs three cells')
            continue
        layer, target = cells[0].strip('`'), cells[1].strip('`')
        deps = re.findall(r'`([^`]+)`', cells[2])
        if layer in layers:
            errors.append(f'dev/layout.md:{n}: layer {layer} is listed twice')
        layers[layer] = (target, deps)
    for layer, (_, deps) in layers.items():
        for d in deps:
            if d not in layers:
                errors.append(f'dev/layout.md: layer {layer} depends on {d}, which is not in the table')
    return layers


def find_cycle(layers):
    state = {}

    def visit(layer, path):
        state[layer] = 'open'
        for d in layers[layer][1]:
            if d not in layers:
                continue
            if state.get(d) == 'open':
                return path + [layer, d]
            if d not in state:
                found = visit(d, path + [layer])
                if found:
                    return found
        state[layer] = 'done'
        return None

    for layer in layers:
        if layer not in state:
            found = visit(layer, [])
            if found:
                return found[found.index(found[-1]):]
    return None


def layer_of(path, layers):
    """The layer a root-relative path belongs to: the longest layer folder holding it."""
    best = None
    for layer in layers:
        if (path == layer or path.startswith(layer + '/')) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def resolve(root, rel_file, name):
    """The root-relative path an include names: next to the file, from the root
    (the project's include directory), or next to a folder above the file."""
    here = os.path.dirname(rel_file)
    candidates = [os.path.join(here, name), name]
    while here:
        here = os.path.dirname(here)
        candidates.append(os.path.join(here, name))
    for c in candidates:
        c = os.path.normpath(c)
        if not c.startswith('..') and os.path.isfile(os.path.join(root, c)):
            return c
    return None


def check_includes(root, layers, errors):
    tops = sorted({layer.split('/')[0] for layer in layers})
    files = includes = 0
    unlisted = set()
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for fn in sorted(filenames):
                if not fn.endswith(SOURCE_SUFFIXES):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, fn), root)
                mine = layer_of(rel, layers)
                if mine is None:
                    errors.append(f'{rel}: is in no layer of dev/layout.md')
                    continue
                folder = os.path.dirname(rel)
                if folder != mine and any(l.startswith(mine + '/') for l in layers):
                    # A layer with sublayers: each of its folders must be one.
                    if folder not in unlisted:
                        unlisted.add(folder)
                        errors.append(f'{folder}/: a folder of layer {mine} that is not a layer of dev/layout.md; '
                                      f'add it to the table')
                    continue
                files += 1
                allowed = set(layers[mine][1]) | {mine}
                with open(os.path.join(root, rel), encoding='utf-8', errors='replace') as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        includes += 1
                        target = resolve(root, rel, m.group(1))
                        if target is None:
                            errors.append(f'{rel}:{n}: #include "{m.group(1)}": no such file in the tree')
                            continue
                        theirs = layer_of(target, layers)
                        if theirs is None:
                            errors.append(f'{rel}:{n}: #include "{m.group(1)}": {target} is in no layer')
                        elif theirs not in allowed:
                            errors.append(f'{rel}:{n}: #include "{m.group(1)}": layer {mine} may not depend on '
                                          f'{theirs} (dev/layout.md)')
    return files, includes


def check_cmake(root, layers, errors):
    """Each layer's target links exactly the targets of the layers it may depend on."""
    by_target = {target: layer for layer, (target, _) in layers.items()}
    linked = {}
    for layer in layers:
        path = os.path.join(root, layer, 'CMakeLists.txt')
        if not os.path.isfile(path):
            continue
        text = re.sub(r'#[^\n]*', '', open(path, encoding='utf-8').read())
        for m in LINK.finditer(text):
            words = m.group(1).split()
            if words:
                linked.setdefault(words[0], set()).update(w for w in words[1:] if w in by_target)
    for layer, (target, deps) in layers.items():
        if target in NO_TARGET:
            continue
        if target not in linked:
            errors.append(f'{layer}: no target_link_libraries({target} ...) in a layer\'s CMakeLists.txt')
            continue
        want = {layers[d][0] for d in deps if d in layers and layers[d][0] not in NO_TARGET}
        have = linked[target] - {target}
        for t in sorted(have - want):
            errors.append(f'{layer}/CMakeLists.txt: {target} links {t} (layer {by_target[t]}), '
                          f'which dev/layout.md does not let {layer} depend on')
        for t in sorted(want - have):
            errors.append(f'{layer}/CMakeLists.txt: {target} does not link {t}, '
                          f'though dev/layout.md says {layer} depends on {by_target[t]}')


def check_readme(root, layers, errors):
    """README.md's layout table names every layer and every top folder, and
    every path its first column names exists."""
    path = os.path.join(root, 'README.md')
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except OSError as e:
        errors.append(f'README.md: cannot read it: {e.strerror}')
        return
    start = next((i for i, l in enumerate(lines) if l.strip() == '## Layout'), None)
    rows = []
    if start is not None:
        for n, line in enumerate(lines[start + 1:], start + 2):
            if line.startswith('## '):
                break
            if line.startswith('|') and not line.startswith('| ---') and not line.startswith('| path'):
                rows.append((n, line))
    if not rows:
        errors.append('README.md: no table under "## Layout"')
        return
    named = set()
    for n, line in rows:
        cells = line.strip().strip('|').split('|')
        first = re.findall(r'`([^`]+)`', cells[0])
        for p in first:
            if not os.path.exists(os.path.join(root, p)):
                errors.append(f'README.md:{n}: the layout table names {p}, which is not in the tree')
        named.update(p.rstrip('/') for p in re.findall(r'`([^`]+)`', line))
    ignored = [l.strip().strip('/') for l in open(os.path.join(root, '.gitignore'), encoding='utf-8')
               if l.strip().startswith('/')] if os.path.isfile(os.path.join(root, '.gitignore')) else []
    tops = [d for d in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, d)) and not d.startswith('.')
            and not any(fnmatch.fnmatch(d, g) for g in ignored)]
    for want in list(layers) + tops:
        if not any(p == want or p.startswith(want + '/') for p in named):
            errors.append(f'README.md: the layout table does not mention {want}/')


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    errors = []
    layers = read_table(root, errors)
    if layers:
        for layer in layers:
            if not os.path.isdir(os.path.join(root, layer)):
                errors.append(f'dev/layout.md: layer {layer} has no folder {layer}/')
        cycle = find_cycle(layers)
        if cycle:
            errors.append('dev/layout.md: the layers form a cycle: ' + ' -> '.join(cycle))
        files, includes = check_includes(root, layers, errors)
        check_cmake(root, layers, errors)
        check_readme(root, layers, errors)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f'layout: ok ({len(layers)} layers, {files} files, {includes} includes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

# Sourced by the bench/ scripts: the models they measure. Needs $hearth, $shared and $cache set, and fail() and
# usage_error() defined, by the script that sources it.

# The vocabulary each synthesized shape is meant for (the vocab column of src/model/synth.cpp's shapes).
vocab_of_shape() {
  case "$1" in
    tiny-llama|llama2-7b) echo llama-spm ;;
    tiny-llama3|llama32-1b|llama3-8b) echo llama-bpe ;;
    tiny-qwen2|tiny-qwen3|qwen25-05b|qwen3-06b) echo qwen2 ;;
    *) fail "no vocabulary known for shape $1 (see hearth synth --help)" ;;
  esac
}

# Prints the path of a model: FILE.gguf as given, SHAPE:TYPE synthesized into the cache unless already there.
model_file() {
  case "$1" in
    *.gguf) [ -f "$1" ] || fail "no model file $1"; echo "$1"; return ;;
    *:*) ;;
    *) usage_error "--models takes SHAPE:TYPE or FILE.gguf items, not $1" ;;
  esac
  local shape="${1%%:*}" type="${1#*:}"
  local file="$cache/$shape-$type.gguf"
  if [ ! -f "$file" ]; then
    local family
    family="$(vocab_of_shape "$shape")"
    local vocab="$shared/vocab/ggml-vocab-$family.gguf"
    [ -f "$vocab" ] || fail "$vocab not found: set HEARTH_SHARED to the shared test data folder"
    mkdir -p "$cache"
    echo "bench: synthesizing $file" >&2
    "$hearth" synth --shape "$shape" --type "$type" --vocab "$vocab" --out "$file" --quiet >&2
  fi
  echo "$file"
}

#include "hearth/tokenizer.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "hearth/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special.h"
#include "tokenizer/spm.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"
#include "tokenizer/wordpiece.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // ▁

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t pos = 0;
  for (size_t found = text.find(from); found != std::string_view::npos; found = text.find(from, pos)) {
    out.append(text.substr(pos, found - pos));
    out.append(to);
    pos = found + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

// A normal byte-level BPE token's bytes. Characters outside the alphabet (only in hand-made vocabularies)
// are kept as they are spelled.
std::string decode_byte_level(std::string_view spelled) {
  std::string out;
  for (size_t pos = 0; pos < spelled.size();) {
    const unicode::Decoded d = unicode::decode(spelled, pos);
    const int byte = unicode::code_point_to_byte(d.code_point);
    if (byte >= 0) out.push_back(static_cast<char>(byte));
    else out.append(spelled.substr(pos, d.length));
    pos += d.length;
  }
  return out;
}

}  // namespace

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::SentencePiece: return "SentencePiece BPE";
    case Kind::BytePair: return "byte-level BPE";
    case Kind::WordPiece: return "WordPiece";
  }
  return "unknown";
}

struct Tokenizer::Impl {
  Vocab vocab;
  std::optional<SpecialTokenMatcher> special;
  std::optional<SentencePieceModel> sentence_piece;
  std::optional<PreTokenizer> pre_tokenizer;
  std::optional<BytePairModel> byte_pair;
  std::vector<std::string> pieces;  // what each token stands for, special tokens shown
  int32_t newline = kNoToken;

  void check(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= vocab.size()) {
      throw TokenIdError(fmt::format("token id {} is outside the vocabulary of {} tokens", id, vocab.size()));
    }
  }

  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const {
    switch (vocab.kind) {
      case Kind::SentencePiece: {
        // SentencePiece sees a space in front of text that starts the input or follows a special token.
        const std::string prefixed = vocab.add_space_prefix && after_special ? " " + std::string(text) : std::string(text);
        sentence_piece->encode(vocab, replace_all(prefixed, " ", kSpaceMarker), out);
        break;
      }
      case Kind::BytePair: {
        std::string sanitized;
        const std::string_view clean = unicode::sanitize(text, sanitized) ? std::string_view(sanitized) : text;
        WordCache cache;
        BytePairModel::Scratch scratch;
        pre_tokenizer->split(clean, [&](std::string_view word) {
          const bool cacheable = word.size() > 1 && word.size() <= WordCache::kMaxWordLength;
          if (cacheable && cache.append(word, out)) return;
          const size_t first = out.size();
          byte_pair->encode(vocab, word, out, scratch);
          if (cacheable) cache.remember(word, out, first);
        });
        break;
      }
      case Kind::WordPiece:
        encode_wordpiece(vocab, text, out);
        break;
    }
  }

  std::string_view piece(int32_t id, bool show_special) const {
    check(id);
    if (!show_special && vocab.is_control_like(id)) return {};
    return pieces[id];
  }

  // The piece of `id` in a sequence: the first token after the start (or a leading BOS) loses the space that
  // tokenization put in front of the text.
  std::string_view next_piece(int32_t id, bool show_special, bool& at_start) const {
    std::string_view text = piece(id, show_special);
    if (at_start && id != vocab.bos) {
      at_start = false;
      if (vocab.add_space_prefix && !text.empty() && text.front() == ' ') text.remove_prefix(1);
    }
    return text;
  }

  std::string piece_of(int32_t id) const {
    const std::string& text = vocab.texts[id];
    switch (vocab.types[id]) {
      case TokenType::Control:
      case TokenType::Unknown:
      case TokenType::UserDefined:
        return text;
      case TokenType::Normal:
        return vocab.kind == Kind::BytePair ? decode_byte_level(text) : replace_all(text, kSpaceMarker, " ");
      case TokenType::Byte:
        return std::string(1, static_cast<char>(byte_token_value(text)));
      case TokenType::Unused:
      case TokenType::Undefined:
        break;
    }
    return {};  // like the reference, tokens of other types stand for no text
  }
};

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  auto impl = std::make_shared<Impl>();
  impl->vocab = load_vocab(file);
  const Vocab& vocab = impl->vocab;
  impl->special.emplace(vocab);
  switch (vocab.kind) {
    case Kind::SentencePiece:
      impl->sentence_piece.emplace(vocab);
      break;
    case Kind::BytePair:
      impl->pre_tokenizer.emplace(PreTokenizer::create(vocab.pre_tokenizer));
      impl->byte_pair.emplace(vocab, file);
      break;
    case Kind::WordPiece:
      break;
  }
  impl->pieces.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) impl->pieces.push_back(impl->piece_of(static_cast<int32_t>(id)));

  switch (vocab.kind) {
    case Kind::SentencePiece:
      impl->newline = vocab.find("<0x0A>");
      if (impl->newline == kNoToken) impl->newline = vocab.find("\n");
      break;
    case Kind::BytePair: {
      std::vector<int32_t> ids;
      impl->encode_text("\n", true, ids);
      if (!ids.empty()) impl->newline = ids.front();
      break;
    }
    case Kind::WordPiece:
      break;
  }
  if (impl->newline == kNoToken) impl->newline = vocab.pad;
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& impl = *impl_;
  const Vocab& vocab = impl.vocab;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  const bool frame_bert = vocab.kind == Kind::WordPiece && add_special;
  if ((add_special && vocab.add_bos) || frame_bert) out.push_back(vocab.bos);
  bool after_special = true;
  for (const Fragment& fragment : impl.special->partition(vocab, text, parse_special)) {
    if (fragment.token != kNoToken) {
      out.push_back(fragment.token);
      after_special = true;
    } else {
      impl.encode_text(text.substr(fragment.offset, fragment.length), after_special, out);
      after_special = false;
    }
  }
  if (frame_bert) out.push_back(vocab.sep);
  else if (add_special && vocab.add_eos) out.push_back(vocab.eos);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool show_special) const {
  return std::string(impl_->piece(id, show_special));
}

std::string Tokenizer::detokenize(std::span<const int32_t> ids, bool show_special) const {
  std::string text;
  bool at_start = true;
  for (const int32_t id : ids) text.append(impl_->next_piece(id, show_special, at_start));
  return text;
}

Kind Tokenizer::kind() const { return impl_->vocab.kind; }
std::string_view Tokenizer::pre_tokenizer() const { return impl_->vocab.pre_tokenizer; }
size_t Tokenizer::vocab_size() const { return impl_->vocab.size(); }

std::string_view Tokenizer::token_text(int32_t id) const {
  impl_->check(id);
  return impl_->vocab.texts[id];
}
TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check(id);
  return impl_->vocab.types[id];
}
float Tokenizer::token_score(int32_t id) const {
  impl_->check(id);
  return impl_->vocab.scores[id];
}
int32_t Tokenizer::find_token(std::string_view text) const { return impl_->vocab.find(text); }

int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
int32_t Tokenizer::eot() const { return impl_->vocab.eot; }
int32_t Tokenizer::eom() const { return impl_->vocab.eom; }
int32_t Tokenizer::unk() const { return impl_->vocab.unk; }
int32_t Tokenizer::sep() const { return impl_->vocab.sep; }
int32_t Tokenizer::pad() const { return impl_->vocab.pad; }
int32_t Tokenizer::mask() const { return impl_->vocab.mask; }
int32_t Tokenizer::newline() const { return impl_->newline; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab.add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->vocab.add_space_prefix; }

bool Tokenizer::is_eog(int32_t id) const {
  const auto& eog = impl_->vocab.eog;
  return std::binary_search(eog.begin(), eog.end(), id);
}

bool Tokenizer::is_control(int32_t id) const {
  impl_->check(id);
  return impl_->vocab.is_control_like(id);
}

StreamingDetokenizer::StreamingDetokenizer(Tokenizer tokenizer, bool show_special, bool sequence_start)
    : tokenizer_(std::move(tokenizer)), show_special_(show_special), at_start_(sequence_start) {}

std::string StreamingDetokenizer::push(int32_t id) {
  const std::string_view piece = tokenizer_.impl_->next_piece(id, show_special_, at_start_);
  if (pending_.empty() && unicode::complete_prefix_length(piece) == piece.size()) return std::string(piece);
  pending_ += piece;
  const size_t complete = unicode::complete_prefix_length(pending_);
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return out;
}

std::string StreamingDetokenizer::finish() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace hearth::tokenizer

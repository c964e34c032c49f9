"""Text rules of the Bot API: UTF-16 lengths, HTML parse mode, trimming, automatic entities.

Telegram measures text and entity offsets in UTF-16 code units, not code points: an emoji
outside the BMP counts twice. The HTML parser follows tdlib's `parse_html` (the code behind the
Bot API server), so the error texts are the ones the real server returns after
"Bad Request: can't parse entities: ".
"""

from __future__ import annotations

import re
from typing import Any

JSONDict = dict[str, Any]

# tdlib's is_space; NUL doubles as the end-of-text sentinel the C parser reads past the end.
_SPACE = frozenset(" \t\r\n\v\0")
_TRIMMED = " \t\r\n\v\0"
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"

# Telegram's own regexes (tdlib match_mentions / match_bot_commands), with \w standing in
# for its "word character" test.
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w)")
_BOT_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")


class EntityParseError(ValueError):
    """The text is not valid in its parse mode; the message is Telegram's description."""


def utf16_len(text: str) -> int:
    """Length of `text` as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[JSONDict]]:
    """Render Telegram-flavoured HTML into plain text plus message entities."""
    parser = _HtmlParser(source)
    return parser.parse()


def trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram does, clipping the entities to what is left."""
    stripped = text.strip(_TRIMMED)
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
    size = utf16_len(stripped)
    clipped: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, size)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped


def detect_entities(text: str) -> list[JSONDict]:
    """The mention and bot_command entities Telegram attaches to a message a user types."""
    found = [(match, "mention") for match in _MENTION.finditer(text)] + [
        (match, "bot_command") for match in _BOT_COMMAND.finditer(text)
    ]
    entities = [
        {
            "type": kind,
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match, kind in found
    ]
    return sorted(entities, key=lambda entity: entity["offset"])


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the `&...;` at `pos` into (character, position after it); None when it is none."""

    def at(index: int) -> str:
        return text[index] if index < len(text) else "\0"

    end = pos + 1
    if at(end) == "#":
        end += 1
        digits, base = (_HEX_DIGITS, 16) if at(end) == "x" else (_DIGITS, 10)
        if base == 16:
            end += 1
        start = end
        while at(end) in digits:
            end += 1
        code = int(text[start:end], base) if end > start else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        if 0xD800 <= code <= 0xDFFF:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        decoded = chr(code)
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(text[pos + 1 : end])
        if named is None:
            return None
        decoded = named
    if at(end) == ";":
        end += 1
    return decoded, end


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self._source = source
        self._pos = 0
        self._out: list[str] = []
        self._offset = 0
        self._entities: list[JSONDict] = []
        # (tag, argument, UTF-16 offset where it opened, len(self._out) at that point)
        self._open: list[tuple[str, str, int, int]] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        while self._pos < len(self._source):
            char = self._source[self._pos]
            if char == "&":
                decoded = _decode_entity(self._source, self._pos)
                if decoded is not None:
                    self._emit(decoded[0])
                    self._pos = decoded[1]
                    continue
            if char != "<":
                self._emit(char)
                self._pos += 1
                continue
            if self._char(self._pos + 1) == "/":
                self._end_tag()
            else:
                self._start_tag()
        if self._open:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self._open[-1][0]}"'
            )
        for entity in self._entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        entities = sorted(self._entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self._out), entities

    def _char(self, pos: int) -> str:
        return self._source[pos] if pos < len(self._source) else "\0"

    def _byte_offset(self, pos: int) -> int:
        return len(self._source[:pos].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self._out.append(text)
        self._offset += utf16_len(text)

    def _start_tag(self) -> None:
        begin = self._pos
        pos = begin + 1
        while self._char(pos) not in _SPACE and self._char(pos) != ">":
            pos += 1
        if pos >= len(self._source):
            raise EntityParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        tag = self._source[begin + 1 : pos].lower()
        where = f"at byte offset {self._byte_offset(begin)}"
        if tag not in _SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" {where}')
        argument = ""
        while self._char(pos) != ">":
            while pos < len(self._source) and self._char(pos) in _SPACE:
                pos += 1
            if self._char(pos) == ">":
                break
            name_start = pos
            while self._char(pos) not in _SPACE and self._char(pos) not in "=>":
                pos += 1
            name = self._source[name_start:pos]
            if not name:
                raise EntityParseError(f'Empty attribute name in the tag "{tag}" {where}')
            while pos < len(self._source) and self._char(pos) in _SPACE:
                pos += 1
            if tag == "blockquote" and name.lower() == "expandable" and self._char(pos) != "=":
                argument = "expandable"
                continue
            if self._char(pos) != "=":
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" {where}'
                )
            pos += 1
            while pos < len(self._source) and self._char(pos) in _SPACE:
                pos += 1
            if pos >= len(self._source):
                raise EntityParseError(f'Unclosed start tag "{tag}" {where}')
            value, pos = self._attribute_value(pos)
            if pos >= len(self._source):
                raise EntityParseError(f"Unclosed start tag {where}")
            if tag == "a" and name == "href":
                argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and name == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif tag == "tg-emoji" and name == "emoji-id":
                argument = value
        if tag == "span" and argument != "spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" {where}')
        self._open.append((tag, argument, self._offset, len(self._out)))
        self._pos = pos + 1

    def _attribute_value(self, pos: int) -> tuple[str, int]:
        quote = self._char(pos)
        if quote not in "'\"":
            start = pos
            while self._char(pos).isascii() and (
                self._char(pos).isalnum() or self._char(pos) in ".-"
            ):
                pos += 1
            if self._char(pos) not in _SPACE and self._char(pos) != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {self._byte_offset(start)}"
                )
            return self._source[start:pos].lower(), pos
        pos += 1
        value: list[str] = []
        while pos < len(self._source) and self._source[pos] != quote:
            if self._source[pos] == "&":
                decoded = _decode_entity(self._source, pos)
                if decoded is not None:
                    value.append(decoded[0])
                    pos = decoded[1]
                    continue
            value.append(self._source[pos])
            pos += 1
        if pos < len(self._source):
            pos += 1
        return "".join(value), pos

    def _end_tag(self) -> None:
        begin = self._pos
        where = f"at byte offset {self._byte_offset(begin)}"
        if not self._open:
            raise EntityParseError(f"Unexpected end tag {where}")
        pos = begin + 2
        while self._char(pos) not in _SPACE and self._char(pos) != ">":
            pos += 1
        end_tag = self._source[begin + 2 : pos].lower()
        while pos < len(self._source) and self._char(pos) in _SPACE:
            pos += 1
        if self._char(pos) != ">":
            raise EntityParseError(f"Unclosed end tag {where}")
        tag, argument, offset, out_index = self._open.pop()
        if end_tag and end_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag {where}, expected "</{tag}>", found "</{end_tag}>"'
            )
        if self._offset > offset:
            self._close_entity(tag, argument, offset, out_index)
        self._pos = pos + 1

    def _close_entity(self, tag: str, argument: str, offset: int, out_index: int) -> None:
        length = self._offset - offset
        entity: JSONDict = {"offset": offset, "length": length}
        if tag in _SIMPLE_ENTITY:
            entity["type"] = _SIMPLE_ENTITY[tag]
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=argument)
        elif tag == "a":
            entity.update(type="text_link", url=argument or "".join(self._out[out_index:]))
        elif tag == "blockquote":
            entity["type"] = "expandable_blockquote" if argument else "blockquote"
        else:
            self._close_code(tag, argument, entity)
            return
        self._entities.append(entity)

    def _close_code(self, tag: str, argument: str, entity: JSONDict) -> None:
        """`<pre><code class="language-x">`, either way round, is one pre entity with a language."""
        previous = self._entities[-1] if self._entities else None
        same_span = (
            previous is not None
            and previous["offset"] == entity["offset"]
            and previous["length"] == entity["length"]
        )
        if tag == "pre":
            if previous is not None and same_span and "language" in previous:
                previous["type"] = "pre"
                return
            entity["type"] = "pre"
        else:
            if previous is not None and same_span and previous["type"] == "pre" and argument:
                previous["language"] = argument
                return
            entity["type"] = "code"
            if argument:
                # Only an enclosing <pre> keeps the language; parse() drops it otherwise.
                entity["language"] = argument
        self._entities.append(entity)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of `text` an entity with this UTF-16 offset and length covers."""
    encoded = text.encode("utf-16-le")
    return encoded[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")

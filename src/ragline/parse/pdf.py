"""PDF via pypdfium2: the text layer page by page, page numbers kept for every chunk.

Pages without a text layer (scanned images) are counted; a document with some is flagged
``needs_ocr``, and one with no text at all fails with that reason. Encrypted and corrupt
files fail with a reason that says which.

A few KiB of compressed streams can hold gigabytes of text, so extraction counts each page's
characters before reading them and stops (``TooLarge``) at the page that passes ``max_chars``:
memory is bounded by one page, not by the document.
"""

from __future__ import annotations

from ragline.errors import ParseError
from ragline.parse.base import Block, ParsedDoc, TooLarge, assemble

# Fewer visible characters than this on a page means there is no usable text layer.
MIN_PAGE_CHARS = 16


def parse_pdf(data: bytes, *, max_chars: int | None = None) -> ParsedDoc:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise ParseError("encrypted PDF: a password is required to read it") from exc
        raise ParseError(f"corrupt PDF: {message}") from exc
    try:
        n_pages = len(pdf)
        if n_pages == 0:
            raise ParseError("PDF has no pages")
        blocks: list[Block] = []
        no_text: list[int] = []
        extracted = 0
        for index in range(n_pages):
            try:
                page = pdf[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        extracted += textpage.count_chars()
                        if max_chars is not None and extracted > max_chars:
                            raise TooLarge(f"the text layer passes {extracted:,} characters by page "
                                           f"{index + 1} of {n_pages}", max_chars)
                        text = textpage.get_text_bounded()
                    finally:
                        textpage.close()
                finally:
                    page.close()
            except pdfium.PdfiumError as exc:
                raise ParseError(f"corrupt PDF: page {index + 1} cannot be read: {exc}") from exc
            if sum(1 for ch in text if not ch.isspace()) < MIN_PAGE_CHARS:
                no_text.append(index + 1)
                continue
            blocks.append(Block(text, page=index + 1))
        title = None
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
        except pdfium.PdfiumError:
            pass
    finally:
        pdf.close()
    if not blocks:
        raise ParseError(f"PDF has no text layer on any of its {n_pages} page(s) "
                         "(scanned images?): OCR is needed")
    metadata = {"pages": n_pages}
    warnings = []
    if no_text:
        metadata["needs_ocr"] = True
        metadata["pages_without_text"] = len(no_text)
        warnings.append(f"{len(no_text)} of {n_pages} page(s) have no text layer "
                        f"(pages {', '.join(map(str, no_text[:10]))}): OCR is needed for them")
    return assemble("pdf", blocks, title=title, metadata=metadata, warnings=warnings)

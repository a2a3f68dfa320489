"""Model cards: jinja2 to HTML, WeasyPrint to PDF, pyHanko PAdES signatures, verification."""

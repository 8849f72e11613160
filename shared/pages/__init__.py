"""Server-rendered HTML and the browser assets: the public booking page, the embeddable widget, result pages.

``templates`` renders the pages on one shared shell, ``assets`` serves ``static/`` (booking.css,
booking.js - the booking flow as an ES module -, page.js, widget.js). Standard library only.
"""

// Printable pages: open the print dialog once the page (and its photos) are loaded.
window.addEventListener("load", function () { window.print(); });

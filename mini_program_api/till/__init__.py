"""The till: the member after a scan, checkout and its refund, sales waiting for the member's confirmation,
the spending password that guards stored value there, and punch cards used one visit per scan."""

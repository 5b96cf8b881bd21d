"""The look: one accent colour, large touch targets, readable at arm's length."""

ACCENT = "amber"
PAGE_MAX_WIDTH = "40em"

page = {
    "max_width": PAGE_MAX_WIDTH,
    "margin": "0 auto",
    "padding": "1.25em",
    "width": "100%",
}

big_button = {"size": "4", "width": "100%", "min_height": "56px"}

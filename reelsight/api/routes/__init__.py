"""The API's routers, one module per kind of endpoint; ``reelsight.api.app`` composes them."""

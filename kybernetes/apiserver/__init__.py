"""The apiserver: HTTP app, handlers per verb, watch cache, discovery."""

"""What runs the book: the chapter list and runner (:mod:`.chapters`), a notebook's session
(:mod:`.session`), the live explorers (:mod:`.explorers`), the results summary (:mod:`.summary`) and
predictions on new clips (:mod:`.predict`).
"""

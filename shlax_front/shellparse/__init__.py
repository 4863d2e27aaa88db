"""Shell analysis of RUN bodies on the tree-sitter-bash grammar; ``shlax_front.shell`` is its public face.

- ``model``: ``Word``, ``Command``, ``Script``, ``expand_words``
- ``grammar``: the tree-sitter-bash parser, and the checks that its tree holds the script as bash reads it
- ``tree``: the syntax tree walked into simple commands with their conditions and regions
- ``words``: quote removal and source spans of words
- ``argv``: wrappers (``sudo``, ``env``, ``xargs``...), ``su``/``gosu`` users, ``sh -c`` scripts
"""

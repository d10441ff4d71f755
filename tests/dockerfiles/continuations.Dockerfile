# Continuations as people write them: indented lines, a comment and an empty line inside a
# continuation, whitespace after the backslash, exec forms, lower-case keywords, ONBUILD.
FROM corpus-base
RUN echo one \
    && echo two \  
    # a comment inside the continuation

    && echo three
run ["sh", "-c", "echo exec form"]
LABEL a=1 \
      b="two words"
ENV PATH=/bin:/usr/bin \
    HOME=/root
ONBUILD RUN echo triggered
COPY a.txt /a.txt
CMD ["sh"]

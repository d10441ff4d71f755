# A comment first: the escape line below is then only a comment, not a directive.
# escape=`
FROM corpus-base
RUN echo still \
    backslash

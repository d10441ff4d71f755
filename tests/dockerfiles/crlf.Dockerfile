FROM corpus-base
RUN echo crlf \
    && echo lines
COPY a.txt /a.txt

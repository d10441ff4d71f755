# syntax=docker/dockerfile:1
# escape=`

FROM corpus-base
RUN echo windows-style `
    && echo continued
RUN echo "a \ backslash stays"
WORKDIR /app
COPY a.txt ./

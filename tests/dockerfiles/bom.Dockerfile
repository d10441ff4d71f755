FROM corpus-base
RUN echo bom

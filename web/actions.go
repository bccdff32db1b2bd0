package web

import "net/http"

func (s *Server) wake(w http.ResponseWriter, r *http.Request)      {}
func (s *Server) shutdown(w http.ResponseWriter, r *http.Request)  {}
func (s *Server) keepAwake(w http.ResponseWriter, r *http.Request) {}
